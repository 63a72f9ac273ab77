//! Between Hangar's messages and Matrix events: an app's rich message as
//! a Matrix formatted body (plain `body` for every client, HTML in
//! `formatted_body` for those that render it), and a Matrix message event
//! as the message apps see.

use std::fmt::Write;

use hangar_host::{BlockKind, Content, ContextElement, Element, Message};
use serde_json::{Value, json};

use super::bridge::MatrixBridge;

/// Where apps' custom fields travel in an event's content.
pub(crate) const CUSTOM_FIELDS: &str = "org.hangar.custom_fields";

/// The content of an `m.room.message` event showing `content`.
pub(crate) fn content(content: &Content) -> Value {
    let (body, html) = bodies(content);
    let mut event = json!({"msgtype": "m.text", "body": body});
    if html != escape(&body) {
        event["format"] = json!("org.matrix.custom.html");
        event["formatted_body"] = json!(html);
    }
    if !content.custom_fields.is_empty() {
        event[CUSTOM_FIELDS] = Value::Object(content.custom_fields.clone());
    }
    event
}

/// The plain and HTML renderings of a rich message.
fn bodies(content: &Content) -> (String, String) {
    let mut plain = content.text.clone();
    let mut html = inline(&content.text);
    let mut add = |p: String, h: String| {
        if !plain.is_empty() {
            plain.push('\n');
        }
        plain.push_str(&p);
        html.push_str(&h);
    };
    for block in &content.blocks {
        match &block.kind {
            BlockKind::Section { text, fields, .. } => {
                let mut p = text.as_ref().map(|t| t.text.clone()).unwrap_or_default();
                let mut h = format!(
                    "<p>{}</p>",
                    text.as_ref().map(|t| inline(&t.text)).unwrap_or_default()
                );
                if !fields.is_empty() {
                    h.push_str("<ul>");
                    for f in fields {
                        let _ = write!(p, "\n- {}", f.text);
                        let _ = write!(h, "<li>{}</li>", inline(&f.text));
                    }
                    h.push_str("</ul>");
                }
                add(p, h);
            }
            BlockKind::Context { elements } => {
                let texts: Vec<&str> = elements
                    .iter()
                    .map(|e| match e {
                        ContextElement::Text(t) => t.text.as_str(),
                        ContextElement::Image(i) => i.alt.as_str(),
                    })
                    .collect();
                let p = texts.join(" ");
                let h = format!("<p><sub>{}</sub></p>", inline(&p));
                add(p, h);
            }
            BlockKind::Divider => add("---".into(), "<hr>".into()),
            BlockKind::Image { image, title } => {
                let label = title.clone().unwrap_or_else(|| image.alt.clone());
                let p = format!("{label} {}", image.url);
                let h = format!(
                    "<p><a href=\"{}\">{}</a></p>",
                    attr(&image.url),
                    escape(if label.is_empty() { &image.url } else { &label })
                );
                add(p, h);
            }
            BlockKind::Actions { elements } => {
                // Matrix clients have no buttons: their labels show what
                // the app offers.
                let labels: Vec<String> = elements
                    .iter()
                    .filter_map(|e| match e {
                        Element::Button(b) => Some(format!("[{}]", b.text)),
                        _ => None,
                    })
                    .collect();
                if !labels.is_empty() {
                    let p = labels.join(" ");
                    let h = format!("<p>{}</p>", escape(&p));
                    add(p, h);
                }
            }
            BlockKind::Input(_) => {}
        }
    }
    for a in &content.attachments {
        let mut p = String::new();
        let mut h = String::from("<blockquote>");
        if let Some(author) = &a.author_name {
            let _ = write!(p, "{author}: ");
            let _ = write!(h, "<em>{}</em><br>", escape(author));
        }
        if let Some(title) = &a.title {
            p.push_str(title);
            match &a.title_link {
                Some(link) => {
                    let _ = write!(
                        h,
                        "<strong><a href=\"{}\">{}</a></strong><br>",
                        attr(link),
                        escape(title)
                    );
                }
                None => {
                    let _ = write!(h, "<strong>{}</strong><br>", escape(title));
                }
            }
        }
        if let Some(text) = &a.text {
            if !p.is_empty() {
                p.push('\n');
            }
            p.push_str(text);
            let _ = write!(h, "{}", inline(text));
        }
        for f in &a.fields {
            let _ = write!(p, "\n{}: {}", f.title, f.value);
            let _ = write!(
                h,
                "<br><strong>{}</strong>: {}",
                escape(&f.title),
                inline(&f.value)
            );
        }
        if let Some(url) = &a.image_url {
            let _ = write!(p, "\n{url}");
            let _ = write!(h, "<br><a href=\"{}\">{}</a>", attr(url), escape(url));
        }
        h.push_str("</blockquote>");
        add(p, h);
    }
    (plain, html)
}

/// Text as apps write it (`*bold*`, `_italic_`, `` `code` ``) in HTML.
fn inline(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped.as_str();
    'outer: while !rest.is_empty() {
        for (mark, tag) in [('*', "strong"), ('_', "em"), ('`', "code")] {
            if let Some(after) = rest.strip_prefix(mark)
                && let Some(end) = after.find(mark)
                && end > 0
                && !after[..end].contains('\n')
            {
                let _ = write!(out, "<{tag}>{}</{tag}>", &after[..end]);
                rest = &after[end + 1..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '\n' {
            out.push_str("<br>");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A URL in an attribute: only web links.
fn attr(url: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        escape(url)
    } else {
        "#".into()
    }
}

/// The message an `m.room.message` event carries (its latest text for an
/// edit), or `None` for other events.
pub(crate) fn message_of(event: &Value, bridge: &MatrixBridge) -> Option<Message> {
    if event["type"] != "m.room.message" {
        return None;
    }
    let content = &event["content"];
    let shown = if content["m.relates_to"]["rel_type"] == "m.replace" {
        &content["m.new_content"]
    } else {
        content
    };
    let id = event["event_id"].as_str()?;
    let mut text = shown["body"].as_str().unwrap_or("");
    if !content["m.relates_to"]["m.in_reply_to"].is_null() {
        text = strip_reply_fallback(text);
    }
    let mut message = Message {
        id: bridge.host_id(id),
        room: event["room_id"].as_str()?.to_string(),
        sender: sender_of(event, bridge),
        text: text.to_string(),
        timestamp: event["origin_server_ts"].as_u64().unwrap_or(0),
        ..Message::default()
    };
    if content["m.relates_to"]["rel_type"] == "m.thread" {
        message.thread = content["m.relates_to"]["event_id"]
            .as_str()
            .map(|t| bridge.host_id(t));
    }
    if let Some(fields) = content[CUSTOM_FIELDS].as_object() {
        message.custom_fields = fields.clone();
    }
    Some(message)
}

/// A reply's own text: clients quote the message replied to in `> `
/// lines first, which apps must not read as the sender's words.
fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    let mut rest = body;
    while let Some(line_end) = rest.find('\n') {
        if !rest.starts_with('>') {
            break;
        }
        rest = &rest[line_end + 1..];
    }
    if rest.starts_with('>') {
        return "";
    }
    rest.trim_start_matches('\n')
}

/// Who sent `event`, as apps know users: an app's puppet is its bot user.
pub(crate) fn sender_of(event: &Value, bridge: &MatrixBridge) -> String {
    let sender = event["sender"].as_str().unwrap_or("");
    match bridge.app_of(sender) {
        Some(app) => hangar_host::bot_user_id(&app),
        None => sender.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_marks_become_html_and_text_is_escaped() {
        assert_eq!(
            inline("*bob* has <b>5</b> _karma_ `x`"),
            "<strong>bob</strong> has &lt;b&gt;5&lt;/b&gt; <em>karma</em> <code>x</code>"
        );
        assert_eq!(inline("a * b"), "a * b");
    }

    #[test]
    fn reply_fallbacks_are_not_the_senders_words() {
        assert_eq!(
            strip_reply_fallback("> <@a:x> @bob++\n> more\n\nthanks"),
            "thanks"
        );
        assert_eq!(strip_reply_fallback("no quote"), "no quote");
        assert_eq!(strip_reply_fallback("> only a quote"), "");
    }

    #[test]
    fn plain_text_has_no_formatted_body() {
        let c = content(&Content {
            text: "bob has 3 karma".into(),
            ..Content::default()
        });
        assert_eq!(c, json!({"msgtype": "m.text", "body": "bob has 3 karma"}));
    }

    #[test]
    fn attachments_and_fields_render_in_both_bodies() {
        let mut fields = serde_json::Map::new();
        fields.insert("word-filter".into(), json!({"masked": 1}));
        let c = content(&Content {
            text: "*Poll*".into(),
            attachments: vec![hangar_host::Attachment {
                title: Some("Lunch?".into()),
                text: Some("3 votes".into()),
                ..Default::default()
            }],
            custom_fields: fields,
            ..Content::default()
        });
        assert_eq!(c["body"], "*Poll*\nLunch?\n3 votes");
        assert_eq!(
            c["formatted_body"],
            "<strong>Poll</strong><blockquote><strong>Lunch?</strong><br>3 votes</blockquote>"
        );
        assert_eq!(c[CUSTOM_FIELDS]["word-filter"]["masked"], 1);
    }
}
