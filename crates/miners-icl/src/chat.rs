//! Chat templates (the Jinja `chat_template` of `tokenizer_config.json` or a
//! GGUF file), rendered as Hugging Face's `apply_chat_template` does for one
//! user message with `add_generation_prompt`.

use minijinja::{Environment, Error, ErrorKind, context};

use crate::IclError;

/// A model's chat template with its special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// A template from its Jinja source and the tokens it may print.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Self {
        Self {
            source: source.to_owned(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        }
    }

    /// The prompt for one user message, ending where the assistant's reply begins.
    ///
    /// ```
    /// use miners_icl::ChatTemplate;
    ///
    /// let template = ChatTemplate::new(
    ///     "{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}\n{% endfor %}\
    ///      {% if add_generation_prompt %}<|assistant|>{% endif %}",
    ///     "<s>",
    ///     "</s>",
    /// );
    /// assert_eq!(template.render_user(" hi ").unwrap(), "<|user|>hi\n<|assistant|>");
    /// ```
    pub fn render_user(&self, content: &str) -> Result<String, IclError> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        let messages = [context! { role => "user", content => content }];
        env.render_str(
            &self.source,
            context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            },
        )
        .map_err(|e| IclError::Template(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_methods_and_special_tokens_render() {
        let template = ChatTemplate::new(
            "{{ bos_token }}{% for m in messages %}{{ m['role'].upper() }}: {{ m.content.strip() }}{{ eos_token }}{% endfor %}",
            "<s>",
            "</s>",
        );
        assert_eq!(template.render_user("  hi  ").unwrap(), "<s>USER: hi</s>");
    }

    #[test]
    fn templates_that_fail_are_errors_that_say_why() {
        let raising =
            ChatTemplate::new("{{ raise_exception('System role not supported') }}", "", "");
        let err = raising.render_user("x").unwrap_err().to_string();
        assert!(
            err.contains("chat template") && err.contains("System role not supported"),
            "{err}"
        );
        let broken = ChatTemplate::new("{% for m in messages %}", "", "");
        let err = broken.render_user("x").unwrap_err().to_string();
        assert!(err.starts_with("chat template:"), "{err}");
    }
}
