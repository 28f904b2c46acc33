//! Words in messages: a count with its noun, singular or plural, the one way every message
//! says "1 wheel" and "3 wheels"; text clipped to a length.

/// `1 wheel`, `3 wheels`, `0 problems`. `noun` is the singular; the plural adds `s`.
pub fn count(number: usize, noun: &str) -> String {
    if number == 1 {
        format!("1 {noun}")
    } else {
        format!("{number} {noun}s")
    }
}

/// `text` cut to at most `characters` characters, ending in `...` when cut.
pub fn clip(text: &str, characters: usize) -> String {
    if text.chars().count() > characters {
        format!(
            "{}...",
            text.chars()
                .take(characters.saturating_sub(3))
                .collect::<String>()
        )
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_text_is_clipped_with_an_ellipsis() {
        assert_eq!(super::clip("abcdef", 6), "abcdef");
        assert_eq!(super::clip("abcdefg", 6), "abc...");
        assert_eq!(super::clip("ééééééé", 6), "ééé...");
    }

    #[test]
    fn one_is_singular_every_other_count_plural() {
        assert_eq!(super::count(0, "wheel"), "0 wheels");
        assert_eq!(super::count(1, "wheel"), "1 wheel");
        assert_eq!(super::count(2, "search path"), "2 search paths");
    }
}
