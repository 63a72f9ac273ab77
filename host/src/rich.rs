//! Bounds on rich messages, checked where they enter the host (an app's
//! `send-message` or `update-message`, a modify handler's output): counts
//! of blocks, attachments and fields, the whole message's size, and URLs
//! that are `https:` or `http:` only (a chat renders them; `javascript:`
//! must never reach a page).

use crate::bridge::{
    Accessory, Attachment, Block, BlockKind, Choice, Content, ContextElement, Image, Interactive,
    View, interactive,
};

/// Most blocks in one message.
pub(crate) const MAX_BLOCKS: usize = 50;
/// Most attachments in one message.
pub(crate) const MAX_ATTACHMENTS: usize = 20;
/// Most fields in one section or attachment, and items in a context block.
pub(crate) const MAX_FIELDS: usize = 25;
/// Longest alias, block id or colour.
pub(crate) const MAX_SHORT: usize = 256;
/// Most choices of a select or menu.
pub(crate) const MAX_CHOICES: usize = 100;

/// Why rich content was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Over a count or size bound.
    TooLarge(String),
    /// Not acceptable at any size (a URL that is not a web URL).
    Invalid(String),
}

impl From<Refusal> for String {
    fn from(r: Refusal) -> String {
        match r {
            Refusal::TooLarge(m) | Refusal::Invalid(m) => m,
        }
    }
}

impl From<String> for Refusal {
    fn from(m: String) -> Refusal {
        Refusal::TooLarge(m)
    }
}

/// Check `content` (and the optional alias and avatar) against the bounds;
/// `max_bytes` bounds the whole message as JSON. Returns its size.
pub(crate) fn check(
    content: &Content,
    alias: Option<&str>,
    avatar: Option<&str>,
    max_bytes: usize,
) -> Result<usize, Refusal> {
    if content.blocks.len() > MAX_BLOCKS {
        return Err(Refusal::TooLarge(format!(
            "a message has {} blocks; at most {MAX_BLOCKS} are allowed",
            content.blocks.len()
        )));
    }
    if content.attachments.len() > MAX_ATTACHMENTS {
        return Err(Refusal::TooLarge(format!(
            "a message has {} attachments; at most {MAX_ATTACHMENTS} are allowed",
            content.attachments.len()
        )));
    }
    if let Some(alias) = alias {
        short("alias", alias)?;
    }
    if let Some(avatar) = avatar {
        url("avatar", avatar).map_err(Refusal::Invalid)?;
    }
    content.blocks.iter().try_for_each(block)?;
    if content
        .blocks
        .iter()
        .any(|b| matches!(b.kind, BlockKind::Input(_)))
    {
        return Err(Refusal::Invalid(
            "input blocks go in views (modals, contextual bars), not in messages".into(),
        ));
    }
    elements(&content.blocks)?;
    content.attachments.iter().try_for_each(attachment)?;
    // Empty parts cost nothing, so a plain text may use the whole limit.
    let json = |empty: bool, v: &dyn erased::Json| if empty { 0 } else { v.len() };
    let bytes = content.text.len()
        + json(content.attachments.is_empty(), &content.attachments)
        + json(content.blocks.is_empty(), &content.blocks)
        + json(content.custom_fields.is_empty(), &content.custom_fields);
    if bytes > max_bytes {
        return Err(Refusal::TooLarge(format!(
            "the message is {bytes} bytes with its attachments, blocks and custom fields, over the limit of {max_bytes} bytes"
        )));
    }
    Ok(bytes)
}

/// The JSON size of a part of a message.
mod erased {
    pub(super) trait Json {
        fn len(&self) -> usize;
    }
    impl<T: serde::Serialize> Json for T {
        fn len(&self) -> usize {
            serde_json::to_vec(self).map_or(0, |v| v.len())
        }
    }
}

fn short(what: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_SHORT {
        return Err(format!(
            "{what} is {} bytes; at most {MAX_SHORT} are allowed",
            value.len()
        ));
    }
    Ok(())
}

/// Refuse anything but an absolute `https:` or `http:` URL.
pub(crate) fn url(what: &str, value: &str) -> Result<(), String> {
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        let shown: String = value.chars().take(40).collect();
        return Err(format!("{what} '{shown}' is not an https: or http: URL"));
    }
    if value.len() > 2048 || value.chars().any(char::is_control) {
        return Err(format!(
            "{what} is over 2048 bytes or holds control characters"
        ));
    }
    Ok(())
}

fn image(what: &str, i: &Image) -> Result<(), Refusal> {
    url(what, &i.url).map_err(Refusal::Invalid)
}

fn fields(what: &str, n: usize) -> Result<(), String> {
    if n > MAX_FIELDS {
        return Err(format!(
            "{what} has {n} items; at most {MAX_FIELDS} are allowed"
        ));
    }
    Ok(())
}

fn block(b: &Block) -> Result<(), Refusal> {
    if let Some(id) = &b.block_id {
        short("block-id", id)?;
    }
    let kind: Result<(), Refusal> = match &b.kind {
        BlockKind::Section { fields: f, .. } => {
            fields("a section", f.len())?;
            Ok(())
        }
        BlockKind::Context { elements } => {
            fields("a context block", elements.len())?;
            elements.iter().try_for_each(|e| match e {
                ContextElement::Image(i) => image("a context image", i),
                ContextElement::Text(_) => Ok(()),
            })
        }
        BlockKind::Divider => Ok(()),
        BlockKind::Image { image: i, .. } => image("an image block", i),
        BlockKind::Actions { elements } => {
            fields("an actions block", elements.len())?;
            Ok(())
        }
        BlockKind::Input(input) => {
            short("an input's label", &input.label)?;
            if b.block_id.as_deref().is_none_or(str::is_empty) {
                return Err(Refusal::Invalid(format!(
                    "the input block '{}' needs a block-id: a view's state names each input by its block and action ids",
                    input.label.chars().take(40).collect::<String>()
                )));
            }
            Ok(())
        }
    };
    kind?;
    if let BlockKind::Section {
        accessory: Some(Accessory::Image(i)),
        ..
    } = &b.kind
    {
        image("a section's image", i)?;
    }
    Ok(())
}

/// Every interactive element: an action id, choices within bounds and
/// unique values, dates that are dates; no two elements with the same
/// block and action ids (an interaction names exactly one).
fn elements(blocks: &[Block]) -> Result<(), Refusal> {
    let found = interactive(blocks);
    for (i, (block_id, e, _)) in found.iter().enumerate() {
        let action = e.action_id();
        if action.is_empty() {
            return Err(Refusal::Invalid(
                "an interactive element needs an action-id".into(),
            ));
        }
        short("an action-id", action)?;
        let choices: &[Choice] = match e {
            Interactive::StaticSelect(s) => &s.choices,
            Interactive::Overflow(o) => &o.choices,
            _ => &[],
        };
        if choices.len() > MAX_CHOICES {
            return Err(Refusal::TooLarge(format!(
                "'{action}' has {} choices; at most {MAX_CHOICES} are allowed",
                choices.len()
            )));
        }
        for (k, c) in choices.iter().enumerate() {
            short("a choice's value", &c.value)?;
            if choices[..k].iter().any(|o| o.value == c.value) {
                return Err(Refusal::Invalid(format!(
                    "'{action}' has the choice value '{}' twice",
                    c.value.chars().take(40).collect::<String>()
                )));
            }
        }
        if let Interactive::DatePicker(d) = e
            && let Some(day) = &d.initial
            && !is_date(day)
        {
            return Err(Refusal::Invalid(format!(
                "'{action}' starts at '{}', which is not a YYYY-MM-DD date",
                day.chars().take(40).collect::<String>()
            )));
        }
        if found[..i]
            .iter()
            .any(|(b, o, _)| *b == *block_id && o.action_id() == action)
        {
            return Err(Refusal::Invalid(format!(
                "two elements have the action-id '{action}' in the same block; give them different ids"
            )));
        }
    }
    Ok(())
}

/// A `YYYY-MM-DD` calendar date.
pub(crate) fn is_date(value: &str) -> bool {
    value.len() == 10 && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
}

/// Check a view an app opens or updates; returns its size.
pub(crate) fn check_view(view: &View, max_bytes: usize) -> Result<usize, Refusal> {
    if view.title.trim().is_empty() {
        return Err(Refusal::Invalid("a view needs a title".into()));
    }
    short("a view's title", &view.title)?;
    for label in [&view.submit, &view.close].into_iter().flatten() {
        short("a view's button label", label)?;
    }
    if view.blocks.len() > MAX_BLOCKS {
        return Err(Refusal::TooLarge(format!(
            "a view has {} blocks; at most {MAX_BLOCKS} are allowed",
            view.blocks.len()
        )));
    }
    view.blocks.iter().try_for_each(block)?;
    for (i, b) in view.blocks.iter().enumerate() {
        if let Some(id) = &b.block_id
            && view.blocks[..i]
                .iter()
                .any(|o| o.block_id.as_ref() == Some(id))
        {
            return Err(Refusal::Invalid(format!(
                "two blocks of the view have the id '{}'; a view's state and errors name blocks by id",
                id.chars().take(40).collect::<String>()
            )));
        }
    }
    elements(&view.blocks)?;
    let bytes = serde_json::to_vec(&view.blocks).map_or(0, |v| v.len()) + view.title.len();
    if bytes > max_bytes {
        return Err(Refusal::TooLarge(format!(
            "the view is {bytes} bytes, over the limit of {max_bytes} bytes"
        )));
    }
    Ok(bytes)
}

fn attachment(a: &Attachment) -> Result<(), Refusal> {
    fields("an attachment", a.fields.len())?;
    if let Some(c) = &a.color {
        short("an attachment's colour", c)?;
    }
    if let Some(u) = &a.title_link {
        url("an attachment's title link", u).map_err(Refusal::Invalid)?;
    }
    if let Some(u) = &a.image_url {
        url("an attachment's image", u).map_err(Refusal::Invalid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_image(u: &str) -> Content {
        Content {
            blocks: vec![Block {
                block_id: None,
                kind: BlockKind::Image {
                    image: Image {
                        url: u.into(),
                        alt: String::new(),
                    },
                    title: None,
                },
            }],
            ..Content::default()
        }
    }

    #[test]
    fn urls_are_web_only() {
        assert!(check(&with_image("https://x.test/a.png"), None, None, 1 << 16).is_ok());
        assert!(check(&with_image("HTTP://x.test/a.png"), None, None, 1 << 16).is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "https://x\n",
        ] {
            let e = check(&with_image(bad), None, None, 1 << 16).unwrap_err();
            assert!(matches!(e, Refusal::Invalid(_)), "{bad}: {e:?}");
            let e = String::from(e);
            assert!(e.contains("URL") || e.contains("control"), "{bad}: {e}");
        }
        assert!(check(&Content::default(), None, Some("ftp://x"), 1 << 16).is_err());
    }

    #[test]
    fn counts_and_size_are_bounded() {
        let c = Content {
            blocks: vec![
                Block {
                    block_id: None,
                    kind: BlockKind::Divider,
                };
                MAX_BLOCKS + 1
            ],
            ..Content::default()
        };
        assert!(String::from(check(&c, None, None, 1 << 20).unwrap_err()).contains("blocks"));
        let c = Content {
            text: "x".repeat(100),
            ..Content::default()
        };
        let e = String::from(check(&c, None, None, 50).unwrap_err());
        assert!(e.contains("over the limit"), "{e}");
        assert!(check(&c, Some(&"a".repeat(300)), None, 1 << 20).is_err());
    }
}
