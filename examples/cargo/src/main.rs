//! lphello: prints the sum 1 + 2 + ... + n, and the profile its build script saw.

fn triangle(n: u64) -> u64 {
    n * (n + 1) / 2
}

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    println!("triangle({}) = {} ({} build)", n, triangle(n), env!("LPHELLO_PROFILE"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn triangle_of_ten() {
        assert_eq!(super::triangle(10), 55);
    }
}
