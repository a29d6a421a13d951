//! "Did you mean": the closest of a set of names to a mistyped one.

/// The candidate closest to `word` by Damerau-Levenshtein distance (a swap of two neighbouring
/// letters is one edit), compared case-insensitively, if it is close enough to be a typo: one edit
/// for names of up to 4 letters, two for longer ones.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, c), c))
        .filter(|&(d, c)| d <= if c.len() <= 4 { 1 } else { 2 })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    /// Swapped, missing and extra letters and another case are found; unrelated words are not.
    #[test]
    fn typos() {
        let cmds = ["scan", "explain", "status", "completions"];
        assert_eq!(closest("sacn", cmds), Some("scan"));
        assert_eq!(closest("explian", cmds), Some("explain"));
        assert_eq!(closest("STATUS", cmds), Some("status"));
        assert_eq!(closest("stats", cmds), Some("status"));
        for far in ["stale", "nginx", "cron", "s", "run"] {
            assert_eq!(closest(far, cmds), None, "{far}");
        }
    }
}
