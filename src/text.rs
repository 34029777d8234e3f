//! Text for messages: cut to a readable length, listed with quotes; and the one way names are
//! compared with ASCII letters in either case (media types, host names, configuration keys).

/// Cuts `s` to at most `max` characters, on a character boundary, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `'a', 'b', 'c'`: each name quoted and cut to 100 characters.
pub fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{}'", truncate(n, 100)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `text` holds `part` from byte `at` on, ASCII letters in either case.
pub fn holds_at(text: &str, at: usize, part: &str) -> bool {
    text.as_bytes()
        .get(at..at.saturating_add(part.len()))
        .is_some_and(|found| found.eq_ignore_ascii_case(part.as_bytes()))
}

/// Whether `text` ends with `suffix`, ASCII letters in either case.
pub fn ends_with_any_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len() && holds_at(text, text.len() - suffix.len(), suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_marks_the_cut_on_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }

    #[test]
    fn parts_are_found_in_either_case_and_never_past_the_end() {
        assert!(holds_at("Application/JSON", 0, "application/"));
        assert!(holds_at("a_Key", 1, "_key"));
        assert!(!holds_at("a_Key", 2, "_key"));
        assert!(!holds_at("ab", usize::MAX, "x"));
        assert!(holds_at("é", 2, ""));
        assert!(ends_with_any_case("db.LOCALHOST", ".localhost"));
        assert!(ends_with_any_case("_KEY", "_key"));
        assert!(!ends_with_any_case("key", "_key"));
        assert!(!ends_with_any_case("monkey", "_key"));
    }

    #[test]
    fn lists_are_quoted() {
        assert_eq!(quote_list(&["a", "b"]), "'a', 'b'");
        assert_eq!(quote_list(&[]), "");
    }
}
