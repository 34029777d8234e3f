//! Text for messages: cut to a readable length, listed with quotes.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_marks_the_cut_on_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }

    #[test]
    fn lists_are_quoted() {
        assert_eq!(quote_list(&["a", "b"]), "'a', 'b'");
        assert_eq!(quote_list(&[]), "");
    }
}
