//! The reference's prompt format.

use serde::{Deserialize, Serialize};

/// A prompt template: the instruction and, for instruction-tuned models,
/// the list of label options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Text after `Instruction:`.
    pub instruction: String,
    /// Whether to list the labels as `Options:[...]` before the test input.
    pub options: bool,
}

impl Prompt {
    /// A template without the options line.
    pub fn new(instruction: impl Into<String>) -> Self {
        Self {
            instruction: instruction.into(),
            options: false,
        }
    }

    /// Adds the `Options:` line (the reference does for instruction-tuned models).
    pub fn with_options(mut self, options: bool) -> Self {
        self.options = options;
        self
    }

    /// Renders the prompt for `input` after `(text, label)` demonstrations:
    ///
    /// ```text
    /// Instruction:<instruction>
    /// Input:<text> Prediction:<label>      (one line per demonstration)
    ///                                      (one empty line if any demonstration)
    /// Options:['a', 'b']                   (if options)
    /// Input:<input> Prediction:
    /// ```
    pub fn render(
        &self,
        demonstrations: &[(&str, &str)],
        input: &str,
        labels: Option<&[String]>,
    ) -> String {
        let mut text = format!("Instruction:{}\n", self.instruction);
        if !demonstrations.is_empty() {
            for (demo, label) in demonstrations {
                text.push_str(&format!("Input:{demo} Prediction:{label}\n"));
            }
            text.push('\n');
        }
        if let (true, Some(labels)) = (self.options, labels) {
            text.push_str(&format!("Options:{}\n", python_list(labels)));
        }
        text.push_str(&format!("Input:{input} Prediction:"));
        text
    }
}

/// Python's `str(list_of_str)`: `['a', "b's"]`.
pub fn python_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| python_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Python's `repr(str)` for printable text: single quotes unless the text
/// has a single quote and no double quote; backslashes and control
/// characters escaped.
fn python_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn zero_shot_prompt_has_no_blank_line() {
        let prompt = Prompt::new("Do it.").render(&[], "x", None);
        assert_eq!(prompt, "Instruction:Do it.\nInput:x Prediction:");
    }

    #[test]
    fn options_line_uses_python_list_repr() {
        let labels = labels(&["negative", "neutral", "positive"]);
        let prompt = Prompt::new("Do it.").with_options(true).render(
            &[("a", "negative")],
            "x",
            Some(&labels),
        );
        assert_eq!(
            prompt,
            "Instruction:Do it.\nInput:a Prediction:negative\n\n\
             Options:['negative', 'neutral', 'positive']\nInput:x Prediction:"
        );
    }

    #[test]
    fn python_repr_switches_quotes_like_python() {
        assert_eq!(
            python_list(&labels(&["it's", "a\"b'c", "x\\y"])),
            r#"["it's", 'a"b\'c', 'x\\y']"#
        );
    }
}
