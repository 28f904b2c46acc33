//! Template rendering (tera) with the recipe's variables, and template errors in words.

use super::*;

/// Renders templates of one recipe with one context.
pub(super) struct Renderer<'a> {
    pub(super) recipe: &'a RecipeFile,
    pub(super) context: tera::Context,
}

impl<'a> Renderer<'a> {
    pub(super) fn new(recipe: &'a RecipeFile, context: &TemplateContext) -> Result<Self, RecipeError> {
        let context = tera::Context::from_serialize(context).map_err(|error| RecipeError::Template {
            file: recipe.file.clone(),
            key: String::new(),
            position: None,
            message: template_message(&error),
        })?;
        Ok(Renderer { recipe, context })
    }

    pub(super) fn render(&self, text: &Text) -> Result<String, RecipeError> {
        if !text.is_template() {
            return Ok(text.value.clone());
        }
        tera::Tera::one_off(&text.value, &self.context, false).map_err(|error| RecipeError::Template {
            file: self.recipe.file.clone(),
            key: text.key.clone(),
            position: text.position,
            message: template_message(&error),
        })
    }

    pub(super) fn checked(&self, text: &Text, check: Check) -> Result<String, RecipeError> {
        let rendered = self.render(text)?;
        check.apply(&rendered, &self.recipe.package).map_err(|message| {
            Reader {
                file: &self.recipe.file,
            }
            .invalid(
                &Text {
                    value: rendered.clone(),
                    ..text.clone()
                },
                message.to_string(),
            )
        })
    }
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
