//! IANA code points used on the wire, each with an `Unknown(_)` catch-all so
//! that decoding never fails on a value we do not know.

/// Address Family Identifier (IANA "Address Family Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Afi {
    Ipv4,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for Afi {
    fn from(v: u16) -> Self {
        match v {
            1 => Afi::Ipv4,
            2 => Afi::Ipv6,
            other => Afi::Unknown(other),
        }
    }
}

impl From<Afi> for u16 {
    fn from(a: Afi) -> u16 {
        match a {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
            Afi::Unknown(v) => v,
        }
    }
}

/// Subsequent Address Family Identifier (RFC 4760 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Safi {
    Unicast,
    Multicast,
    Unknown(u8),
}

impl From<u8> for Safi {
    fn from(v: u8) -> Self {
        match v {
            1 => Safi::Unicast,
            2 => Safi::Multicast,
            other => Safi::Unknown(other),
        }
    }
}

impl From<Safi> for u8 {
    fn from(s: Safi) -> u8 {
        match s {
            Safi::Unicast => 1,
            Safi::Multicast => 2,
            Safi::Unknown(v) => v,
        }
    }
}

impl std::fmt::Display for Afi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Afi::Ipv4 => f.write_str("ipv4"),
            Afi::Ipv6 => f.write_str("ipv6"),
            Afi::Unknown(v) => write!(f, "afi{v}"),
        }
    }
}

impl std::fmt::Display for Safi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Safi::Unicast => f.write_str("unicast"),
            Safi::Multicast => f.write_str("multicast"),
            Safi::Unknown(v) => write!(f, "safi{v}"),
        }
    }
}

/// Declares a `u8` code point enum with an `Unknown(u8)` catch-all and both
/// conversions, so that every value round-trips.
macro_rules! u8_code_points {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            Unknown(u8),
        }

        impl From<u8> for $name {
            fn from(v: u8) -> Self {
                match v {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(c: $name) -> u8 {
                match c {
                    $($name::$variant => $value,)+
                    $name::Unknown(v) => v,
                }
            }
        }
    };
}

u8_code_points! {
    /// NOTIFICATION error code (RFC 4271 §4.5; 7 from RFC 7313 §5; 8 from
    /// RFC 9687).
    ErrorCode {
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

u8_code_points! {
    /// Cease subcode (RFC 4486 §4, RFC 8538 §3 Hard Reset, RFC 9384 BFD
    /// Down); 2 and 4 carry an RFC 9003 shutdown communication.
    CeaseSubcode {
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

u8_code_points! {
    /// ROUTE-REFRESH message subtype (RFC 7313 §3.2): 0 a normal request,
    /// 1 BoRR and 2 EoRR frame a re-advertisement; others are reserved and
    /// ignored by the receiver (§5).
    RouteRefreshSubtype {
        Request = 0,
        BeginOfRouteRefresh = 1,
        EndOfRouteRefresh = 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_code_points_round_trip_every_value() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(ErrorCode::from(v)), v);
            assert_eq!(u8::from(CeaseSubcode::from(v)), v);
            assert_eq!(u8::from(RouteRefreshSubtype::from(v)), v);
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
