//! Reading vendor JSON without needless copies.
//!
//! serde borrows a `Cow<'a, str>` field from the input only when the field's type is exactly
//! `Cow<'a, str>` marked `#[serde(borrow)]`; inside an `Option`, a `Vec` or any other wrapper
//! it always allocates an owned copy. [`Text`] borrows wherever it sits, so a provider can
//! read fields it only looks at on the way (a time to parse, a MAC to normalise, one of
//! several group names) straight from the response body.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{Deserialize, Deserializer, Error, Visitor};

/// A JSON string: borrowed from the input when it has no escapes, owned otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    /// The text as an owned `String` (copied only if it was borrowed).
    pub fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Sample<'a> {
        #[serde(borrow)]
        plain: Option<Text<'a>>,
        #[serde(borrow)]
        listed: Vec<Text<'a>>,
    }

    #[test]
    fn text_without_escapes_is_borrowed_wherever_it_sits() {
        let body = br#"{"plain": "host-1", "listed": ["a", "b"]}"#;
        let s: Sample = serde_json::from_slice(body).unwrap();
        assert!(matches!(
            s.plain.as_ref().unwrap().0,
            Cow::Borrowed("host-1")
        ));
        assert!(s.listed.iter().all(|t| matches!(t.0, Cow::Borrowed(_))));
    }

    #[test]
    fn text_with_escapes_is_owned_and_unescaped() {
        let body = br#"{"plain": "a\"b\u00e9", "listed": []}"#;
        let s: Sample = serde_json::from_slice(body).unwrap();
        let plain = s.plain.unwrap();
        assert!(matches!(plain.0, Cow::Owned(_)));
        assert_eq!(&*plain, "a\"bé");
    }

    #[test]
    fn text_refuses_what_is_not_a_string() {
        assert!(serde_json::from_slice::<Sample>(br#"{"plain": 5, "listed": []}"#).is_err());
        let s: Sample = serde_json::from_slice(br#"{"plain": null, "listed": []}"#).unwrap();
        assert!(s.plain.is_none());
    }
}
