//! A component of another world that carries a valid Hangar manifest:
//! the host must refuse it at install with a clear error.

wit_bindgen::generate!({
    inline: "
        package other:greeting;
        world greeter {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);

#[used]
#[unsafe(link_section = "hangar:manifest")]
static MANIFEST: [u8; 89] = *br#"{"id":"otherworld","name":"Other","version":"0.1.0","api-version":"0.1.0","events":[]}   "#;
