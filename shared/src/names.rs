//! Names of namespaces and buckets: what an `X-Namespace` header or a
//! `{bucket_identifier}` path segment may hold besides an id.

pub const MAX_NAME_LEN: usize = 64;

/// 1–64 ASCII letters, digits, `.`, `_` or `-`, starting with a letter or digit, and not
/// shaped like an id (`ns_…`, `bkt_…`), so an identifier is never ambiguous.
pub fn is_valid_name(name: &str) -> bool {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with("ns_")
        && !name.starts_with("bkt_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_rejects_the_rest() {
        for good in ["media", "Prod-2024", "a", "x.y_z-1", &"a".repeat(64)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            "-lead",
            "with space",
            "ns_fake",
            "bkt_fake",
            "a/b",
            "ünï",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
