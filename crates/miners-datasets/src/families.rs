//! Language families: each language's top-level Glottolog family as URIEL
//! records it (`data/language_families.tsv`, written by
//! `data/generate_language_families.py` from lang2vec 1.1.2; docs/data.md),
//! and the families the reference colours SIB-200's t-SNE views by
//! (`data/reference_families.tsv`, from its `LANGS_FAMILY_MAP`).

use std::{collections::HashMap, sync::OnceLock};

const TABLE: &str = include_str!("../data/language_families.tsv");
const REFERENCE_TABLE: &str = include_str!("../data/reference_families.tsv");

/// The top-level Glottolog family of a language code: ISO 639-3 (`ind`),
/// ISO 639-1 (`en`), or either with a script or region (`eng_Latn`, `en-US`).
/// `None` for isolates (Basque) and for codes the table lacks (FIRE's
/// `tamil`, LinCE's `spaeng`).
///
/// ```
/// use miners_datasets::language_family;
/// assert_eq!(language_family("jav"), Some("Austronesian"));
/// assert_eq!(language_family("eng_Latn"), Some("Indo-European"));
/// assert_eq!(language_family("eus_Latn"), None);
/// ```
pub fn language_family(code: &str) -> Option<&'static str> {
    static FAMILIES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    let families = FAMILIES.get_or_init(|| read_table(TABLE));
    let language = code.split(['_', '-']).next().unwrap_or(code);
    families
        .get(language.to_ascii_lowercase().as_str())
        .copied()
}

/// The family the reference's `LANGS_FAMILY_MAP` gives a SIB-200 code
/// (`eng_Latn`), as its t-SNE views colour languages; `None` for codes it
/// does not list. It differs from Glottolog in places (`knc_Latn` is
/// Nilotic there, `epo_Latn` Constructed, `eus_Latn` Basque).
///
/// ```
/// use miners_datasets::reference_family;
/// assert_eq!(reference_family("jav_Latn"), Some("Austronesian"));
/// assert_eq!(reference_family("eus_Latn"), Some("Basque"));
/// assert_eq!(reference_family("jav"), None);
/// ```
pub fn reference_family(code: &str) -> Option<&'static str> {
    static FAMILIES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    FAMILIES
        .get_or_init(|| read_table(REFERENCE_TABLE))
        .get(code)
        .copied()
}

/// A `code<TAB>family` table after its header line, as a map.
fn read_table(table: &'static str) -> HashMap<&'static str, &'static str> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_unique_and_whole() {
        let rows: Vec<(&str, &str)> = TABLE
            .lines()
            .skip(1)
            .map(|line| line.split_once('\t').expect("two columns"))
            .collect();
        assert!(rows.len() > 7000);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(rows.iter().all(|(code, family)| !code.is_empty()
            && !family.is_empty()
            && !family.contains('\t')));
    }

    #[test]
    fn the_references_map_covers_sib200_once_each() {
        let rows: Vec<&str> = REFERENCE_TABLE.lines().skip(1).collect();
        assert_eq!(rows.len(), 205);
        assert!(rows.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(reference_family("knc_Latn"), Some("Nilotic"));
        assert_eq!(reference_family("zho_Hans"), Some("Sino-Tibetan"));
    }

    #[test]
    fn the_paper_languages_fall_in_their_families() {
        let expected = [
            ("ind", "Austronesian"),
            ("bbc", "Austronesian"),
            ("en", "Indo-European"),
            ("hi", "Indo-European"),
            ("ha", "Afro-Asiatic"),
            ("yo", "Atlantic-Congo"),
            ("zho_Hans", "Sino-Tibetan"),
            ("tam_Taml", "Dravidian"),
            ("nob_Latn", "Indo-European"),
            ("EN-us", "Indo-European"),
        ];
        for (code, family) in expected {
            assert_eq!(language_family(code), Some(family), "{code}");
        }
        for unknown in ["tamil", "spaeng", "eus", "", "xx_Latn"] {
            assert_eq!(language_family(unknown), None, "{unknown}");
        }
    }
}
