//! Reading vendor JSON without needless copies.
//!
//! serde borrows a `Cow<'a, str>` field from the input only when the field's type is exactly
//! `Cow<'a, str>` marked `#[serde(borrow)]`; inside an `Option`, a `Vec` or any other wrapper
//! it always allocates an owned copy. [`Text`] borrows wherever it sits, so a provider can
//! read fields it only looks at on the way (a time to parse, a MAC to normalise, one of
//! several group names) straight from the response body. [`Each`] reads a JSON array one
//! element at a time, so a page of objects is never collected into a `Vec` of its own.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error, SeqAccess, Visitor};

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

/// A JSON array read one element at a time: each element goes to the closure as soon as it
/// is parsed (it may borrow from the input), so no `Vec` of the array's objects is built,
/// grown and copied. Use it with `DeserializeSeed` (e.g. `next_value_seed` for an
/// envelope's `data`); its value is how many elements the array held.
pub struct Each<T, F> {
    each: F,
    element: PhantomData<fn() -> T>,
}

impl<T, F> Each<T, F> {
    pub fn new(each: F) -> Self {
        Self {
            each,
            element: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for Each<T, F> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Each<T, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        while let Some(element) = seq.next_element::<T>()? {
            (self.each)(element);
            count += 1;
        }
        Ok(count)
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

    #[test]
    fn each_hands_on_every_element_in_order_and_counts_them() {
        let body = r#"[{"plain": "a", "listed": []}, {"plain": null, "listed": ["b"]}]"#;
        let mut seen = Vec::new();
        let mut de = serde_json::Deserializer::from_str(body);
        let count = Each::new(|s: Sample<'_>| {
            // Borrowed from the body, not copied.
            assert!(s.plain.iter().all(|t| matches!(t.0, Cow::Borrowed(_))));
            seen.push((s.plain.map(Text::into_owned), s.listed.len()));
        })
        .deserialize(&mut de)
        .unwrap();
        de.end().unwrap();
        assert_eq!(count, 2);
        assert_eq!(seen, [(Some("a".to_string()), 0), (None, 1)]);
    }

    #[test]
    fn each_refuses_what_is_not_an_array_and_stops_at_a_bad_element() {
        let mut calls = 0;
        let mut de = serde_json::Deserializer::from_str(r#"{"plain": "a"}"#);
        assert!(
            Each::new(|_: Sample<'_>| calls += 1)
                .deserialize(&mut de)
                .is_err()
        );
        let mut de = serde_json::Deserializer::from_str(r#"[{"plain": "a", "listed": []}, 5]"#);
        assert!(
            Each::new(|_: Sample<'_>| calls += 1)
                .deserialize(&mut de)
                .is_err()
        );
        assert_eq!(calls, 1, "the element before the bad one was handed on");
    }
}
