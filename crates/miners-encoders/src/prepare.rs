//! How a text and its role's prompt become the string a model tokenizes.

use serde::{Deserialize, Serialize};

/// How an encoder prepares `prompt + text` before tokenizing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextPreparation {
    /// The prompt, then the text, unchanged (model2vec's static models).
    #[default]
    Verbatim,
    /// The prompt, then the text, then Python's `str.strip()` of the whole, as
    /// sentence-transformers' `Transformer` module does for every input.
    SentenceTransformers,
}

/// A text ready to tokenize: the model sees `prompt` followed by `body`.
///
/// The pair, not the joined string, identifies an embedding: it is what the
/// embedding cache keys by, so texts that prepare alike share one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared<'p, 't> {
    /// What is left of the role's prompt (all of it unless the text is blank).
    pub prompt: &'p str,
    /// What is left of the text.
    pub body: &'t str,
}

impl Prepared<'_, '_> {
    /// The string to tokenize.
    pub fn joined(&self) -> String {
        [self.prompt, self.body].concat()
    }
}

impl TextPreparation {
    /// Prepares `text` under `prompt` (empty for none).
    ///
    /// ```
    /// use miners_encoders::TextPreparation;
    ///
    /// let strip = TextPreparation::SentenceTransformers;
    /// assert_eq!(strip.apply("query: ", "  Halo dunia \n").joined(), "query:   Halo dunia");
    /// assert_eq!(strip.apply("", "  Halo dunia \n").joined(), "Halo dunia");
    /// assert_eq!(strip.apply("query: ", " \t").joined(), "query:");
    /// ```
    pub fn apply<'p, 't>(self, prompt: &'p str, text: &'t str) -> Prepared<'p, 't> {
        match self {
            TextPreparation::Verbatim => Prepared { prompt, body: text },
            TextPreparation::SentenceTransformers => strip_joined(prompt, text),
        }
    }
}

/// `(prompt + text).strip()` in Python, without joining: a prompt with some
/// non-blank character keeps its leading strip to itself, and a blank text lets
/// the trailing strip reach into the prompt.
fn strip_joined<'p, 't>(prompt: &'p str, text: &'t str) -> Prepared<'p, 't> {
    let prompt = prompt.trim_start_matches(is_python_space);
    if prompt.is_empty() {
        return Prepared {
            prompt,
            body: text.trim_matches(is_python_space),
        };
    }
    match text.trim_end_matches(is_python_space) {
        "" => Prepared {
            prompt: prompt.trim_end_matches(is_python_space),
            body: "",
        },
        body => Prepared { prompt, body },
    }
}

/// Python's `str.isspace()` for one character: Unicode `White_Space` plus the
/// four information separators U+001C..U+001F.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn python_strip(s: &str) -> &str {
        s.trim_matches(is_python_space)
    }

    proptest! {
        #[test]
        fn equals_stripping_the_joined_string(
            prompt in "[ \t\u{a0}\u{1c}a:]{0,4}",
            text in "[ \n\u{3000}\u{1f}xé]{0,6}",
        ) {
            let prepared = TextPreparation::SentenceTransformers.apply(&prompt, &text);
            let joined = format!("{prompt}{text}");
            prop_assert_eq!(prepared.joined(), python_strip(&joined));
        }

        #[test]
        fn verbatim_keeps_everything(prompt in ".{0,4}", text in ".{0,8}") {
            let prepared = TextPreparation::Verbatim.apply(&prompt, &text);
            prop_assert_eq!(prepared.joined(), format!("{prompt}{text}"));
        }
    }

    /// Every code point for which CPython 3.11's `str.isspace()` is true.
    const PYTHON_SPACES: &[u32] = &[
        0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
        0x202f, 0x205f, 0x3000,
    ];

    #[test]
    fn python_whitespace_set() {
        let ours: Vec<u32> = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, PYTHON_SPACES);
    }
}
