//! Hand-written deserializers for the scalar-or-list forms of the file,
//! so that a wrong form keeps its location and says what was expected.

use serde::Deserialize;
use serde::de::{self, SeqAccess};

/// Implements `Deserialize` for `$ty` with a `deserialize_any` visitor
/// made of the `visit_*` methods given: one per form the file may use.
/// `expecting` is what a wrong form is told.
macro_rules! deserialize_any {
    ($ty:ident, expecting $expecting:literal, $($methods:tt)+) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    $($methods)+
                }
                d.deserialize_any(V)
            }
        }
    };
}
pub(super) use deserialize_any;

/// An ASN or a set name, or a list of them (`origin_as: 65001`,
/// `as_path_contains: [65001, transit]`).
#[derive(Debug, Default)]
pub(super) struct AsnList(pub(super) Vec<AsnItem>);

#[derive(Debug)]
pub(super) enum AsnItem {
    Asn(u32),
    Name(String),
}

deserialize_any! {
    AsnItem,
    expecting "an ASN or an as_path_sets name",
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsnItem, E> {
        u32::try_from(v)
            .map(AsnItem::Asn)
            .map_err(|_| E::custom(format!("ASN {v} does not fit in 32 bits")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsnItem, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("ASN {v} is negative")))
            .and_then(|v| self.visit_u64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<AsnItem, E> {
        Ok(match v.parse::<u32>() {
            Ok(a) => AsnItem::Asn(a),
            Err(_) => AsnItem::Name(v.to_string()),
        })
    }
}

/// A single ASN or name, as a list of one.
fn one<'de, E: de::Error>(v: impl de::IntoDeserializer<'de, E>) -> Result<AsnList, E> {
    AsnItem::deserialize(v.into_deserializer()).map(|i| AsnList(vec![i]))
}

deserialize_any! {
    AsnList,
    expecting "an ASN, an as_path_sets name, or a list of them",
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsnList, E> {
        one(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsnList, E> {
        one(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<AsnList, E> {
        one(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<AsnList, A::Error> {
        Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(AsnList)
    }
}

/// A scalar or a list of scalars (`address: 2.2.2.2` or `address: [a, b]`).
/// Hand-written rather than `#[serde(untagged)]` so errors keep their
/// location and say what was expected.
#[derive(Debug, Default)]
pub(super) struct OneOrMany(pub(super) Vec<String>);

deserialize_any! {
    OneOrMany,
    expecting "a string or a list of strings",
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany(vec![v.to_string()]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOrMany, A::Error> {
        Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(OneOrMany)
    }
}
