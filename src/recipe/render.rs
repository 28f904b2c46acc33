//! Template rendering (tera) with the recipe's variables, and template errors in words.

use super::*;

/// Renders templates of one recipe with one context.
pub(super) struct Renderer<'a> {
    pub(super) recipe: &'a RecipeFile,
    pub(super) context: tera::Context,
    /// The context's values as text, for templates that only substitute variables.
    values: BTreeMap<String, String>,
}

impl<'a> Renderer<'a> {
    pub(super) fn new(
        recipe: &'a RecipeFile,
        template_context: &TemplateContext,
    ) -> Result<Self, RecipeError> {
        let values = match serde_json::to_value(template_context) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(key, value)| value.as_str().map(|text| (key, text.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let context =
            tera::Context::from_serialize(template_context).map_err(|error| RecipeError::Template {
                file: recipe.file.clone(),
                key: String::new(),
                position: None,
                message: template_message(&error),
            })?;
        Ok(Renderer {
            recipe,
            context,
            values,
        })
    }

    pub(super) fn render(&self, text: &Text) -> Result<String, RecipeError> {
        if !text.is_template() {
            return Ok(text.value.clone());
        }
        if let Some(rendered) = substitute(&text.value, &self.values) {
            return Ok(rendered);
        }
        tera::Tera::one_off(&text.value, &self.context, false).map_err(|error| RecipeError::Template {
            file: self.recipe.file.clone(),
            key: text.key.clone(),
            position: text.position,
            message: template_message(&error),
        })
    }

    /// The text rendered and checked for its key.
    pub(super) fn checked(&self, text: &Text, check: Check) -> Result<String, RecipeError> {
        let rendered = Text {
            value: self.render(text)?,
            ..text.clone()
        };
        self.check(&rendered, check)
    }

    /// An already rendered text checked for its key (the error quotes the rendered value).
    pub(super) fn check(&self, rendered: &Text, check: Check) -> Result<String, RecipeError> {
        check
            .apply(&rendered.value, &self.recipe.package)
            .map_err(|message| {
                Reader {
                    file: &self.recipe.file,
                }
                .invalid(rendered, message.to_string())
            })
    }
}

/// A template made only of text and `{{ name }}` of known variables, rendered without tera
/// (what tera would give); `None` for anything else (tags, filters, expressions, unknown
/// names), which tera renders or explains.
fn substitute(template: &str, values: &BTreeMap<String, String>) -> Option<String> {
    if template.contains("{%") || template.contains("{#") {
        return None;
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let name = after[..end].trim();
        let plain = !name.is_empty()
            && !after[..end].starts_with('-')
            && !after[..end].ends_with('-')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !plain {
            return None;
        }
        out.push_str(values.get(name)?);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// Tera's error chain as one line, without its internal template name; a parse error's
/// drawing (` --> 1:16 | ... = expected ...`) becomes "expected ... (at 1:16 in the value)".
pub(super) fn template_message(error: &tera::Error) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = current {
        parts.push(error.to_string());
        current = error.source();
    }
    let generic = parts.len() > 1 && parts[0].starts_with("Failed to ");
    let parts = if generic { &parts[1..] } else { &parts[..] };
    let mut message = parts
        .iter()
        .map(|part| {
            let part = part
                .replace(" while rendering '__tera_one_off'", "")
                .replace("'__tera_one_off'", "the template");
            match part.trim_start().strip_prefix("--> ") {
                Some(drawing) => {
                    let position = drawing.lines().next().unwrap_or_default().trim();
                    let expected = drawing
                        .lines()
                        .filter_map(|line| line.trim().strip_prefix("= "))
                        .collect::<Vec<_>>()
                        .join("; ");
                    format!("{expected} (at {position} in the value)")
                }
                None => part,
            }
        })
        .collect::<Vec<_>>()
        .join(": ");
    if message.contains("not found in context") {
        message.push_str(&format!(
            " (the variables are: {})",
            TEMPLATE_VARIABLES.join(", ")
        ));
    }
    if message.contains("comment end") {
        message.push_str(
            "; `{#` starts a template comment: write `{{ \"{#\" }}` or wrap the text in {% raw %}...{% endraw %}",
        );
    }
    message
}

#[cfg(test)]
mod substitution_tests {
    use super::*;

    #[test]
    fn plain_substitution_gives_what_tera_gives() {
        let context = TemplateContext::sample();
        let values: BTreeMap<String, String> = match serde_json::to_value(&context).unwrap() {
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(key, value)| (key, value.as_str().unwrap().to_string()))
                .collect(),
            _ => unreachable!(),
        };
        let tera_context = tera::Context::from_serialize(&context).unwrap();
        for template in [
            "{{ version }}",
            "v{{version}}-{{ python }}/{{  arch  }} {{ cflags }}",
            "no template at all",
            "{{ layer }}{{ march }}",
        ] {
            let fast = substitute(template, &values).unwrap();
            assert_eq!(
                fast,
                tera::Tera::one_off(template, &tera_context, false).unwrap(),
                "{template}"
            );
        }
        for template in [
            "{{ version | upper }}",
            "{% if python %}x{% endif %}",
            "{{ missing }}",
            "{{- version }}",
            "{{ version",
            "{{ version }} }}",
            "{# comment #}",
        ] {
            assert!(substitute(template, &values).is_none(), "{template}");
        }
    }
}
