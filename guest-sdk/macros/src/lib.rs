//! The `#[handlers]` attribute of `hangar-sdk`; apps write it
//! `#[hangar_sdk::handlers]` and never depend on this crate directly.
//!
//! Placed on an `impl <Family> for <App>` block (`Family` one of
//! `Lifecycle`, `Messages`, `Commands`, `Settings`, `Events`), it emits the block
//! unchanged plus an impl of the family's hidden marker trait
//! (`hangar_sdk::__<Family>Handlers`) whose `IMPLEMENTED` lists the WIT
//! exports the block defines, in WIT declaration order. `export_app!` joins
//! the five lists into the component's `hangar:exports` section, so the host
//! calls exactly the handlers the app wrote.
//!
//! # Layout
//! - [`FAMILIES`]: each family's methods and the WIT exports they implement.
//! - [`handlers`]: the attribute; `expand` does the work and reports misuse
//!   with `syn::Error`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{ImplItem, Item, ItemImpl, PathArguments};

/// Each family trait's methods as (Rust method, WIT export), in WIT
/// declaration order: the order of this table is the order of the
/// `hangar:exports` section. Must match the traits in `hangar-sdk` and
/// `wit/0.2.0/hangar.wit`.
const FAMILIES: &[(&str, &[(&str, &str)])] = &[
    (
        "Lifecycle",
        &[
            ("on_install", "on-install"),
            ("on_uninstall", "on-uninstall"),
            ("on_update", "on-update"),
            ("on_enable", "on-enable"),
            ("on_disable", "on-disable"),
        ],
    ),
    (
        "Messages",
        &[
            (
                "check_pre_message_sent_prevent",
                "check-pre-message-sent-prevent",
            ),
            (
                "pre_message_sent_prevent",
                "execute-pre-message-sent-prevent",
            ),
            ("pre_message_sent_extend", "execute-pre-message-sent-extend"),
            ("pre_message_sent_modify", "execute-pre-message-sent-modify"),
            ("check_post_message_sent", "check-post-message-sent"),
            ("post_message_sent", "execute-post-message-sent"),
        ],
    ),
    (
        "Commands",
        &[
            ("execute", "execute-command"),
            ("preview", "preview-command"),
            ("preview_item", "execute-preview-item"),
        ],
    ),
    (
        "Settings",
        &[
            ("validate", "on-pre-setting-update"),
            ("updated", "on-setting-updated"),
        ],
    ),
    (
        "Events",
        &[
            ("check_pre", "check-pre-event"),
            (
                "prevent_message_update",
                "execute-pre-message-updated-prevent",
            ),
            (
                "prevent_message_delete",
                "execute-pre-message-deleted-prevent",
            ),
            ("prevent_room_create", "execute-pre-room-created-prevent"),
            ("prevent_room_delete", "execute-pre-room-deleted-prevent"),
            ("prevent_user_join", "execute-pre-room-user-joined-prevent"),
            ("prevent_user_leave", "execute-pre-room-user-left-prevent"),
            ("check_post", "check-post-event"),
            ("message_updated", "execute-post-message-updated"),
            ("message_deleted", "execute-post-message-deleted"),
            ("message_reacted", "execute-post-message-reacted"),
            ("room_created", "execute-post-room-created"),
            ("room_deleted", "execute-post-room-deleted"),
            ("user_joined", "execute-post-room-user-joined"),
            ("user_left", "execute-post-room-user-left"),
            ("user_created", "execute-post-user-created"),
            ("user_updated", "execute-post-user-updated"),
            ("user_logged_in", "execute-post-user-logged-in"),
        ],
    ),
    ("Endpoints", &[("handle", "handle-request")]),
    ("Jobs", &[("run", "run-job")]),
    (
        "Interactions",
        &[
            ("block_action", "execute-block-action"),
            ("view_submit", "execute-view-submit"),
            ("view_closed", "execute-view-closed"),
            ("action_button", "execute-action-button"),
        ],
    ),
];

/// Records which handlers an `impl <Family> for <App>` block defines.
///
/// Put it on every impl of `Lifecycle`, `Messages`, `Commands`, `Settings` and
/// `Events`; without it the impl does not compile. The methods written
/// in the block are the events the app handles: the host never calls the
/// others, and the manifest does not list them.
///
/// ```ignore
/// #[hangar_sdk::handlers]
/// impl Messages for Karma {
///     fn post_message_sent(message: &Message, writer: &Writer, _: &Modifier) -> Result<()> {
///         // ...
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn handlers(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = TokenStream2::from(args);
    let item = syn::parse_macro_input!(item as Item);
    match expand(&args, &item) {
        Ok(tokens) => tokens.into(),
        // Keep the item: one clear error beats a cascade about a missing impl.
        Err(e) => {
            let error = e.to_compile_error();
            quote!(#error #item).into()
        }
    }
}

fn expand(args: &TokenStream2, item: &Item) -> syn::Result<TokenStream2> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[hangar_sdk::handlers] takes no arguments",
        ));
    }
    let Item::Impl(block) = item else {
        return Err(syn::Error::new_spanned(
            item,
            "#[hangar_sdk::handlers] goes on an `impl <Family> for <App>` block, \
             where <Family> is Lifecycle, Messages, Commands, Settings, Events, Endpoints, Jobs or Interactions",
        ));
    };
    let (family, methods) = family_of(block)?;
    let exports = recorded(block, methods)?;
    let marker = format_ident!("__{}Handlers", family);
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let self_ty = &block.self_ty;
    Ok(quote! {
        #block
        #[doc(hidden)]
        impl #impl_generics ::hangar_sdk::#marker for #self_ty #where_clause {
            const IMPLEMENTED: &'static [&'static str] = &[#(#exports),*];
        }
    })
}

/// The family an impl block implements, and that family's methods.
fn family_of(
    block: &ItemImpl,
) -> syn::Result<(&'static str, &'static [(&'static str, &'static str)])> {
    let Some((negative, path, _)) = &block.trait_ else {
        return Err(syn::Error::new_spanned(
            &block.self_ty,
            "#[hangar_sdk::handlers] goes on a trait impl (`impl Messages for App`), \
             not on an inherent impl",
        ));
    };
    if let Some(bang) = negative {
        return Err(syn::Error::new_spanned(
            bang,
            "#[hangar_sdk::handlers] cannot record a negative impl",
        ));
    }
    let Some(last) = path.segments.last() else {
        return Err(syn::Error::new_spanned(path, "expected a family trait"));
    };
    if !matches!(last.arguments, PathArguments::None) {
        return Err(syn::Error::new_spanned(
            &last.arguments,
            "the Hangar family traits take no generic arguments",
        ));
    }
    let name = last.ident.to_string();
    FAMILIES
        .iter()
        .find(|(family, _)| *family == name)
        .map(|&(family, methods)| (family, methods))
        .ok_or_else(|| {
            syn::Error::new_spanned(
                path,
                format!(
                    "`{name}` is not a Hangar event family: #[hangar_sdk::handlers] goes on an \
                     impl of Lifecycle, Messages, Commands, Settings, Events, Endpoints, Jobs or Interactions"
                ),
            )
        })
}

/// The WIT exports the block's methods implement, in declaration order.
/// Unknown method names are left to rustc, which rejects them in a trait
/// impl; a macro call is refused, since its methods cannot be seen here.
fn recorded(block: &ItemImpl, methods: &[(&str, &'static str)]) -> syn::Result<Vec<&'static str>> {
    let mut defined = Vec::new();
    for item in &block.items {
        match item {
            ImplItem::Fn(f) => defined.push(f.sig.ident.to_string()),
            ImplItem::Macro(m) => {
                return Err(syn::Error::new_spanned(
                    m,
                    "#[hangar_sdk::handlers] cannot see handlers a macro defines: \
                     write the methods out in the impl block",
                ));
            }
            _ => {}
        }
    }
    Ok(methods
        .iter()
        .filter(|(method, _)| defined.iter().any(|d| d == method))
        .map(|&(_, export)| export)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream2, item: TokenStream2) -> Result<String, String> {
        let item: Item = syn::parse2(item).map_err(|e| e.to_string())?;
        expand(&args, &item)
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn records_methods_in_wit_order() {
        let out = expand_str(
            quote!(),
            quote! {
                impl hangar_sdk::Messages for App {
                    fn post_message_sent() {}
                    fn pre_message_sent_modify() {}
                }
            },
        )
        .unwrap();
        let marker = "impl :: hangar_sdk :: __MessagesHandlers for App";
        assert!(out.contains(marker), "{out}");
        assert!(
            out.contains(r#"& ["execute-pre-message-sent-modify" , "execute-post-message-sent"]"#),
            "{out}"
        );
    }

    #[test]
    fn empty_impl_records_nothing() {
        let out = expand_str(quote!(), quote!(impl Settings for App {})).unwrap();
        assert!(
            out.contains("const IMPLEMENTED : & 'static [& 'static str] = & [] ;"),
            "{out}"
        );
    }

    #[test]
    fn refuses_misuse() {
        let cases = [
            (quote!(), quote!(impl App {}), "not on an inherent impl"),
            (
                quote!(),
                quote!(impl Display for App {}),
                "`Display` is not a Hangar event family",
            ),
            (
                quote!(),
                quote!(impl Messages<T> for App {}),
                "take no generic arguments",
            ),
            (
                quote!(),
                quote!(
                    fn f() {}
                ),
                "goes on an `impl <Family> for <App>` block",
            ),
            (
                quote!(x),
                quote!(impl Messages for App {}),
                "takes no arguments",
            ),
            (
                quote!(),
                quote!(impl Commands for App { handlers!(); }),
                "cannot see handlers a macro defines",
            ),
        ];
        for (args, item, want) in cases {
            let err = expand_str(args, item).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }
}
