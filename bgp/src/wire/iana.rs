//! IANA code points used on the wire, each with an `Unknown(_)` catch-all so
//! that decoding never fails on a value we do not know.

/// Declares a code point enum with an `Unknown(_)` catch-all and both
/// conversions, so that every value round-trips. With names (`V = 1 =>
/// "name"`) and a prefix for the others, it also prints: `afi7`.
macro_rules! code_points {
    ($(#[$meta:meta])* $name:ident: $repr:ty, unknown $prefix:literal { $($(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal,)+ }) => {
        code_points! { $(#[$meta])* $name: $repr { $($(#[$vmeta])* $variant = $value,)+ } }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $($name::$variant => f.write_str($text),)+
                    $name::Unknown(v) => write!(f, concat!($prefix, "{}"), v),
                }
            }
        }
    };
    ($(#[$meta:meta])* $name:ident: $repr:ty { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                match v {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(c: $name) -> $repr {
                match c {
                    $($name::$variant => $value,)+
                    $name::Unknown(v) => v,
                }
            }
        }
    };
}

code_points! {
    /// Address Family Identifier (IANA "Address Family Numbers").
    Afi: u16, unknown "afi" {
        Ipv4 = 1 => "ipv4",
        Ipv6 = 2 => "ipv6",
    }
}

code_points! {
    /// Subsequent Address Family Identifier (RFC 4760 §6).
    Safi: u8, unknown "safi" {
        Unicast = 1 => "unicast",
        Multicast = 2 => "multicast",
    }
}

code_points! {
    /// NOTIFICATION error code (RFC 4271 §4.5; 7 from RFC 7313 §5; 8 from
    /// RFC 9687).
    ErrorCode: u8 {
        MessageHeader = 1,
        OpenMessage = 2,
        UpdateMessage = 3,
        HoldTimerExpired = 4,
        FiniteStateMachine = 5,
        Cease = 6,
        RouteRefreshMessage = 7,
        SendHoldTimerExpired = 8,
    }
}

code_points! {
    /// Cease subcode (RFC 4486 §4, RFC 8538 §3 Hard Reset, RFC 9384 BFD
    /// Down); 2 and 4 carry an RFC 9003 shutdown communication.
    CeaseSubcode: u8 {
        MaximumPrefixesReached = 1,
        AdministrativeShutdown = 2,
        PeerDeconfigured = 3,
        AdministrativeReset = 4,
        ConnectionRejected = 5,
        OtherConfigurationChange = 6,
        ConnectionCollisionResolution = 7,
        OutOfResources = 8,
        HardReset = 9,
        BfdDown = 10,
    }
}

code_points! {
    /// ROUTE-REFRESH message subtype (RFC 7313 §3.2): 0 a normal request,
    /// 1 BoRR and 2 EoRR frame a re-advertisement; others are reserved and
    /// ignored by the receiver (§5).
    RouteRefreshSubtype: u8 {
        Request = 0,
        BeginOfRouteRefresh = 1,
        EndOfRouteRefresh = 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_points_round_trip_every_value() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(ErrorCode::from(v)), v);
            assert_eq!(u8::from(CeaseSubcode::from(v)), v);
            assert_eq!(u8::from(RouteRefreshSubtype::from(v)), v);
            assert_eq!(u8::from(Safi::from(v)), v);
        }
        for v in 0..=u16::MAX {
            assert_eq!(u16::from(Afi::from(v)), v);
        }
    }

    #[test]
    fn known_values_decode_to_named_variants() {
        assert_eq!(ErrorCode::from(6), ErrorCode::Cease);
        assert_eq!(ErrorCode::from(4), ErrorCode::HoldTimerExpired);
        assert_eq!(ErrorCode::from(0), ErrorCode::Unknown(0));
        assert_eq!(ErrorCode::from(9), ErrorCode::Unknown(9));
        assert_eq!(CeaseSubcode::from(1), CeaseSubcode::MaximumPrefixesReached);
        assert_eq!(CeaseSubcode::from(9), CeaseSubcode::HardReset);
        assert_eq!(CeaseSubcode::from(10), CeaseSubcode::BfdDown);
        assert_eq!(CeaseSubcode::from(11), CeaseSubcode::Unknown(11));
        assert_eq!(RouteRefreshSubtype::from(0), RouteRefreshSubtype::Request);
        assert_eq!(
            RouteRefreshSubtype::from(2),
            RouteRefreshSubtype::EndOfRouteRefresh
        );
        assert_eq!(
            RouteRefreshSubtype::from(255),
            RouteRefreshSubtype::Unknown(255)
        );
    }
}
