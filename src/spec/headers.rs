//! RFC 822-style header documents (METADATA, WHEEL) edited line by line.
//!
//! A document is a list of fields, each kept as the exact bytes it was read from (its first
//! line and any continuation lines), followed by the body. Rendering concatenates those bytes,
//! so every field we do not edit comes out exactly as it went in: multi-line fields, odd
//! spacing, `\r\n` line endings and the description after the blank line.

/// One header field: its name as written and its raw bytes, continuation lines included.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    raw: Vec<u8>,
}

/// What to do with a field in [`HeaderDocument::edit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldEdit {
    Keep,
    Replace(String),
    Remove,
}

/// A header document that renders byte for byte as it was parsed, but for the edits made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderDocument {
    fields: Vec<Field>,
    body: Vec<u8>,
    newline: &'static str,
}

fn line_content(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The name of a `Name: value` line, if it is one.
fn header_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let valid = !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic() && b != b':');
    if valid {
        std::str::from_utf8(name).ok()
    } else {
        None
    }
}

impl HeaderDocument {
    /// Splits the bytes into fields and body. Never fails: a line that is neither a header nor
    /// a continuation starts the body, as Python's `email` parser (used by pip) decides.
    pub fn parse(bytes: &[u8]) -> Self {
        let newline = match bytes.iter().position(|&b| b == b'\n') {
            Some(index) if index > 0 && bytes[index - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        let mut fields: Vec<Field> = Vec::new();
        let mut position = 0;
        while position < bytes.len() {
            let end = bytes[position..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |index| position + index + 1);
            let line = &bytes[position..end];
            let content = line_content(line);
            if content.is_empty() {
                break;
            }
            if matches!(content[0], b' ' | b'\t') && !fields.is_empty() {
                if let Some(last) = fields.last_mut() {
                    last.raw.extend_from_slice(line);
                }
            } else if let Some(name) = header_name(content) {
                fields.push(Field {
                    name: name.to_string(),
                    raw: line.to_vec(),
                });
            } else {
                break;
            }
            position = end;
        }
        HeaderDocument {
            fields,
            body: bytes[position..].to_vec(),
            newline,
        }
    }

    /// The exact bytes of the document.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + self.fields.len() * 32);
        for field in &self.fields {
            out.extend_from_slice(&field.raw);
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The body: everything from the blank line after the headers on, as read.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The unfolded value of a field: the first line after the colon with surrounding space
    /// trimmed, continuation lines joined with `\n`.
    fn value_of(field: &Field) -> String {
        let text = String::from_utf8_lossy(&field.raw);
        let mut lines = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line));
        let first = lines.next().unwrap_or_default();
        let mut value = first[field.name.len() + 1..].trim().to_string();
        for continuation in lines.filter(|line| !line.is_empty()) {
            value.push('\n');
            value.push_str(continuation);
        }
        value
    }

    /// `(name, value)` of every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, String)> {
        self.fields
            .iter()
            .map(|field| (field.name.as_str(), Self::value_of(field)))
    }

    /// The value of the first field called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(Self::value_of)
    }

    /// The values of every field called `name` (case-insensitive), in order.
    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|field| field.name.eq_ignore_ascii_case(name))
            .map(Self::value_of)
            .collect()
    }

    fn render_field(&self, name: &str, value: &str) -> Field {
        Field {
            name: name.to_string(),
            raw: format!("{name}: {value}{}", self.newline).into_bytes(),
        }
    }

    /// Keeps, replaces or removes each field called `name`; a replaced field keeps the name's
    /// spelling as written. Returns how many fields changed.
    pub fn edit(&mut self, name: &str, mut decide: impl FnMut(&str) -> FieldEdit) -> usize {
        let mut changed = 0;
        let mut fields = Vec::with_capacity(self.fields.len());
        for field in std::mem::take(&mut self.fields) {
            if !field.name.eq_ignore_ascii_case(name) {
                fields.push(field);
                continue;
            }
            let value = Self::value_of(&field);
            match decide(&value) {
                FieldEdit::Keep => fields.push(field),
                FieldEdit::Replace(new_value) if new_value == value => fields.push(field),
                FieldEdit::Replace(new_value) => {
                    changed += 1;
                    let ending_lost = !field.raw.ends_with(b"\n");
                    let mut replacement = self.render_field(&field.name, &new_value);
                    if ending_lost {
                        // Keep a final field without a newline that way.
                        let trimmed = line_content(&replacement.raw).len();
                        replacement.raw.truncate(trimmed);
                    }
                    fields.push(replacement);
                }
                FieldEdit::Remove => changed += 1,
            }
        }
        self.fields = fields;
        changed
    }

    /// Sets the first field called `name` to `value`, or appends it when absent.
    /// Returns whether the document changed.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        if self.get(name).is_some() {
            let mut first = true;
            self.edit(name, |_| {
                if std::mem::take(&mut first) {
                    FieldEdit::Replace(value.to_string())
                } else {
                    FieldEdit::Keep
                }
            }) > 0
        } else {
            self.insert_after_last(name, &[value.to_string()]);
            true
        }
    }

    /// Inserts fields called `name` after the last field of that name, or at the end of the
    /// headers when there is none.
    pub fn insert_after_last(&mut self, name: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let position = self
            .fields
            .iter()
            .rposition(|field| field.name.eq_ignore_ascii_case(name))
            .map_or(self.fields.len(), |index| index + 1);
        if let Some(previous) = position.checked_sub(1).and_then(|i| self.fields.get_mut(i))
            && !previous.raw.ends_with(b"\n")
        {
            previous.raw.extend_from_slice(self.newline.as_bytes());
        }
        let new_fields: Vec<Field> = values
            .iter()
            .map(|value| self.render_field(name, value))
            .collect();
        self.fields.splice(position..position, new_fields);
    }

    /// Replaces every field called `name` by `values`, placed where the first one was
    /// (or at the end of the headers). Returns whether the document changed.
    pub fn replace_all(&mut self, name: &str, values: &[String]) -> bool {
        if self.get_all(name) == values {
            return false;
        }
        let position = self
            .fields
            .iter()
            .position(|field| field.name.eq_ignore_ascii_case(name));
        let spelling = position.map_or(name.to_string(), |index| self.fields[index].name.clone());
        self.fields.retain(|field| !field.name.eq_ignore_ascii_case(name));
        let position = position.unwrap_or(self.fields.len());
        if let Some(previous) = position.checked_sub(1).and_then(|i| self.fields.get_mut(i))
            && !previous.raw.ends_with(b"\n")
        {
            previous.raw.extend_from_slice(self.newline.as_bytes());
        }
        let new_fields: Vec<Field> = values
            .iter()
            .map(|value| self.render_field(&spelling, value))
            .collect();
        self.fields.splice(position..position, new_fields);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "Metadata-Version: 2.1\nName: torch\nVersion: 2.7.1\nSummary: Tensors\nLicense: BSD-3-Clause\n        \n        Copyright (c) 2016-     Facebook, Inc\n        All rights reserved.\nRequires-Dist: filelock\nRequires-Dist: nvidia-cublas-cu12==12.6.4.1; platform_system == \"Linux\"\nProvides-Extra: opt-einsum\nDynamic: license-file\nLicense-File: LICENSE\n\nDescription body\n\nKey: not a header, body text\n";

    #[test]
    fn round_trips_byte_for_byte() {
        for text in [
            METADATA,
            "Name: a\r\nVersion: 1\r\n\r\nbody\r\n",
            "Name: a\nVersion: 1",
            "",
            "not a header\nName: x\n",
            "Name: a\nDescription: line one\n       |line two\n       |\n       |line four\nVersion: 1\n",
        ] {
            let document = HeaderDocument::parse(text.as_bytes());
            assert_eq!(String::from_utf8(document.to_bytes()).unwrap(), text);
        }
    }

    #[test]
    fn reads_multiline_fields_and_stops_at_the_body() {
        let document = HeaderDocument::parse(METADATA.as_bytes());
        assert_eq!(document.get("version").as_deref(), Some("2.7.1"));
        let license = document.get("License").unwrap();
        assert!(license.starts_with("BSD-3-Clause\n"), "{license:?}");
        assert!(license.contains("All rights reserved."));
        assert_eq!(document.get_all("Requires-Dist").len(), 2);
        assert_eq!(document.get("Key"), None, "body text is not a header");
        assert!(document.body().starts_with(b"\nDescription body"));
    }

    #[test]
    fn edits_touch_only_their_fields() {
        let mut document = HeaderDocument::parse(METADATA.as_bytes());
        assert!(document.set("Version", "2.7.1+computecanada"));
        let changed = document.edit("requires-dist", |value| {
            if value.starts_with("nvidia") {
                FieldEdit::Remove
            } else {
                FieldEdit::Keep
            }
        });
        assert_eq!(changed, 1);
        let expected = METADATA
            .replace("Version: 2.7.1\n", "Version: 2.7.1+computecanada\n")
            .replace(
                "Requires-Dist: nvidia-cublas-cu12==12.6.4.1; platform_system == \"Linux\"\n",
                "",
            );
        assert_eq!(String::from_utf8(document.to_bytes()).unwrap(), expected);
    }

    #[test]
    fn inserts_after_the_last_field_of_a_name() {
        let mut document = HeaderDocument::parse(b"Name: a\r\nRequires-Dist: x\r\nSummary: s\r\n\r\nbody");
        document.insert_after_last("Requires-Dist", &["y>=1".to_string()]);
        assert_eq!(
            document.to_bytes(),
            b"Name: a\r\nRequires-Dist: x\r\nRequires-Dist: y>=1\r\nSummary: s\r\n\r\nbody"
        );
        let mut bare = HeaderDocument::parse(b"Name: a");
        bare.insert_after_last("Requires-Dist", &["y".to_string()]);
        assert_eq!(bare.to_bytes(), b"Name: a\nRequires-Dist: y\n");
    }

    #[test]
    fn replaces_all_fields_of_a_name_in_place() {
        let mut wheel = HeaderDocument::parse(
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\nBuild: 1\n",
        );
        assert!(wheel.replace_all("Tag", &["cp312-cp312-linux_x86_64".to_string()]));
        assert_eq!(
            wheel.to_bytes(),
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\nBuild: 1\n"
        );
        assert!(!wheel.replace_all("Tag", &["cp312-cp312-linux_x86_64".to_string()]));
    }
}
