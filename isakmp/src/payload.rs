//! The payloads IKEv1 uses and their bodies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::attr::{decode_attributes, encode_attributes, Attribute};
use crate::codec::{LengthPatch, Reader};
use crate::error::{DecodeError, EncodeError, ErrorKind};
use crate::types::{CertEncoding, CfgType, Doi, IdType, NotifyType, PayloadType, ProtocolId};
use crate::{MAX_DELETE_SPIS, MAX_PROPOSALS, MAX_TRANSFORMS};

/// Situation bit SIT_IDENTITY_ONLY (RFC 2407 §4.2).
pub const SIT_IDENTITY_ONLY: u32 = 1;
const SIT_LABELS: u32 = 0x2 | 0x4;

/// SA payload (RFC 2408 §3.4, RFC 2407 §4.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa {
    /// Domain of interpretation.
    pub doi: Doi,
    /// Situation bitmap (only SIT_IDENTITY_ONLY is supported, as by racoon).
    pub situation: u32,
    /// Proposals in order; several with the same number form an AND-bundle.
    pub proposals: Vec<Proposal>,
    /// The payload body as received (everything after the generic header), for HASH
    /// computations (SAi_b). Empty for locally built payloads: use [`Sa::body_bytes`].
    pub raw: Vec<u8>,
}

/// Proposal substructure (RFC 2408 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number.
    pub number: u8,
    /// Protocol (ISAKMP, AH, ESP, IPCOMP).
    pub protocol: ProtocolId,
    /// SPI (0 bytes in phase 1 usually, 4 for AH/ESP, 2 or 4 for IPComp).
    pub spi: Vec<u8>,
    /// Transforms in order.
    pub transforms: Vec<Transform>,
}

/// Transform substructure (RFC 2408 §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform number.
    pub number: u8,
    /// Transform id (KEY_IKE, ESP_AES, AH_SHA ... depending on the protocol).
    pub id: u8,
    /// SA attributes.
    pub attributes: Vec<Attribute>,
}

/// Identification payload (RFC 2408 §3.8, RFC 2407 §4.6.2) for phase 1 and phase 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// ID type.
    pub id_type: IdType,
    /// IP protocol (0 = any).
    pub protocol: u8,
    /// Port (0 = any).
    pub port: u16,
    /// Identification data.
    pub data: Vec<u8>,
    /// The body as received (IDii_b / IDir_b / IDci / IDcr for HASHes). Empty when built
    /// locally: use [`Identification::body_bytes`].
    pub raw: Vec<u8>,
}

/// Typed identification data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdValue<'a> {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Addr(IpAddr),
    /// ID_IPV4_ADDR_SUBNET / ID_IPV6_ADDR_SUBNET: address and mask.
    Subnet(IpAddr, IpAddr),
    /// ID_IPV4_ADDR_RANGE / ID_IPV6_ADDR_RANGE: first and last address.
    Range(IpAddr, IpAddr),
    /// ID_FQDN.
    Fqdn(&'a [u8]),
    /// ID_USER_FQDN.
    UserFqdn(&'a [u8]),
    /// ID_DER_ASN1_DN.
    DerAsn1Dn(&'a [u8]),
    /// ID_DER_ASN1_GN.
    DerAsn1Gn(&'a [u8]),
    /// ID_KEY_ID.
    KeyId(&'a [u8]),
    /// A type unknown to this codec.
    Other(&'a [u8]),
}

fn v4(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    IpAddr::V6(Ipv6Addr::from(a))
}

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(x) => x.octets().to_vec(),
        IpAddr::V6(x) => x.octets().to_vec(),
    }
}

impl Identification {
    /// Builds an ID payload from a typed value (the type follows the value; for names the
    /// caller picks via the variant).
    pub fn new(value: &IdValue<'_>, protocol: u8, port: u16) -> Self {
        let (id_type, data) = match value {
            IdValue::Addr(a @ IpAddr::V4(_)) => (IdType::IPV4_ADDR, ip_bytes(a)),
            IdValue::Addr(a) => (IdType::IPV6_ADDR, ip_bytes(a)),
            IdValue::Subnet(a, m) => (
                if a.is_ipv4() {
                    IdType::IPV4_ADDR_SUBNET
                } else {
                    IdType::IPV6_ADDR_SUBNET
                },
                [ip_bytes(a), ip_bytes(m)].concat(),
            ),
            IdValue::Range(a, b) => (
                if a.is_ipv4() {
                    IdType::IPV4_ADDR_RANGE
                } else {
                    IdType::IPV6_ADDR_RANGE
                },
                [ip_bytes(a), ip_bytes(b)].concat(),
            ),
            IdValue::Fqdn(b) => (IdType::FQDN, b.to_vec()),
            IdValue::UserFqdn(b) => (IdType::USER_FQDN, b.to_vec()),
            IdValue::DerAsn1Dn(b) => (IdType::DER_ASN1_DN, b.to_vec()),
            IdValue::DerAsn1Gn(b) => (IdType::DER_ASN1_GN, b.to_vec()),
            IdValue::KeyId(b) => (IdType::KEY_ID, b.to_vec()),
            IdValue::Other(b) => (IdType(0), b.to_vec()),
        };
        Identification {
            id_type,
            protocol,
            port,
            data,
            raw: Vec::new(),
        }
    }

    /// The data interpreted by type. Lengths of the address types were checked when decoding;
    /// for locally built payloads a wrong length yields [`IdValue::Other`].
    pub fn value(&self) -> IdValue<'_> {
        let d = &self.data[..];
        match (self.id_type, d.len()) {
            (IdType::IPV4_ADDR, 4) => IdValue::Addr(v4(d)),
            (IdType::IPV6_ADDR, 16) => IdValue::Addr(v6(d)),
            (IdType::IPV4_ADDR_SUBNET, 8) => IdValue::Subnet(v4(&d[..4]), v4(&d[4..])),
            (IdType::IPV6_ADDR_SUBNET, 32) => IdValue::Subnet(v6(&d[..16]), v6(&d[16..])),
            (IdType::IPV4_ADDR_RANGE, 8) => IdValue::Range(v4(&d[..4]), v4(&d[4..])),
            (IdType::IPV6_ADDR_RANGE, 32) => IdValue::Range(v6(&d[..16]), v6(&d[16..])),
            (IdType::FQDN, _) => IdValue::Fqdn(d),
            (IdType::USER_FQDN, _) => IdValue::UserFqdn(d),
            (IdType::DER_ASN1_DN, _) => IdValue::DerAsn1Dn(d),
            (IdType::DER_ASN1_GN, _) => IdValue::DerAsn1Gn(d),
            (IdType::KEY_ID, _) => IdValue::KeyId(d),
            _ => IdValue::Other(d),
        }
    }

    /// The body bytes as they go on the wire (type, protocol, port, data).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.data.len());
        v.push(self.id_type.0);
        v.push(self.protocol);
        v.extend_from_slice(&self.port.to_be_bytes());
        v.extend_from_slice(&self.data);
        v
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let all = r.clone().rest().to_vec();
        let id_type = IdType(r.u8()?);
        let protocol = r.u8()?;
        let port = r.u16()?;
        let at = r.offset();
        let data = r.rest().to_vec();
        let need = match id_type {
            IdType::IPV4_ADDR => Some(4),
            IdType::IPV6_ADDR => Some(16),
            IdType::IPV4_ADDR_SUBNET | IdType::IPV4_ADDR_RANGE => Some(8),
            IdType::IPV6_ADDR_SUBNET | IdType::IPV6_ADDR_RANGE => Some(32),
            _ => None,
        };
        if need.is_some_and(|n| n != data.len()) {
            return Err(DecodeError::new(at, ErrorKind::BadIdLength));
        }
        Ok(Identification {
            id_type,
            protocol,
            port,
            data,
            raw: all,
        })
    }
}

/// Notification payload (RFC 2408 §3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// DOI.
    pub doi: Doi,
    /// Protocol the SPI belongs to.
    pub protocol: ProtocolId,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// SPI (for phase 1: often the two cookies, 16 bytes; for DPD likewise).
    pub spi: Vec<u8>,
    /// Notification data.
    pub data: Vec<u8>,
}

/// Delete payload (RFC 2408 §3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// DOI.
    pub doi: Doi,
    /// Protocol of the SPIs.
    pub protocol: ProtocolId,
    /// Size of every SPI (16 for ISAKMP cookie pairs, 4 for AH/ESP).
    pub spi_size: u8,
    /// SPIs, each exactly `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

/// Mode-config ATTR payload (draft-ietf-ipsec-isakmp-mode-cfg §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAttributes {
    /// REQUEST / REPLY / SET / ACK.
    pub cfg_type: CfgType,
    /// Transaction identifier.
    pub identifier: u16,
    /// Attributes (TV/TLV, [`crate::CfgAttrType`] numbering).
    pub attributes: Vec<Attribute>,
}

/// One payload of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// SA (1).
    Sa(Sa),
    /// Key exchange data (4).
    Ke(Vec<u8>),
    /// Identification (5).
    Id(Identification),
    /// Certificate (6).
    Cert {
        /// Encoding.
        encoding: CertEncoding,
        /// Certificate data.
        data: Vec<u8>,
    },
    /// Certificate request (7).
    CertReq {
        /// Requested encoding.
        encoding: CertEncoding,
        /// Certificate authority (DER DN) or empty.
        authority: Vec<u8>,
    },
    /// Hash (8).
    Hash(Vec<u8>),
    /// Signature (9).
    Sig(Vec<u8>),
    /// Nonce (10).
    Nonce(Vec<u8>),
    /// Notification (11).
    Notify(Notify),
    /// Delete (12).
    Delete(Delete),
    /// Vendor ID (13).
    VendorId(Vec<u8>),
    /// Mode-config attributes (14).
    Attr(ConfigAttributes),
    /// NAT-D: 20 (RFC 3947) or 130 (draft numbering).
    NatD {
        /// Sent with the draft payload number 130.
        draft: bool,
        /// HASH(CKY-I | CKY-R | IP | Port).
        hash: Vec<u8>,
    },
    /// NAT-OA: 21 (RFC 3947) or 131 (draft numbering).
    NatOa {
        /// Sent with the draft payload number 131.
        draft: bool,
        /// Original address.
        addr: IpAddr,
    },
    /// IKEv1 fragment (132), opaque for now.
    Fragment(Vec<u8>),
    /// Any other payload type, kept so the core can answer INVALID-PAYLOAD-TYPE.
    Unknown {
        /// The payload type.
        payload_type: PayloadType,
        /// The body.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type this payload is sent as.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::Id(_) => PayloadType::ID,
            Payload::Cert { .. } => PayloadType::CERT,
            Payload::CertReq { .. } => PayloadType::CR,
            Payload::Hash(_) => PayloadType::HASH,
            Payload::Sig(_) => PayloadType::SIG,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::Attr(_) => PayloadType::ATTR,
            Payload::NatD { draft: false, .. } => PayloadType::NAT_D,
            Payload::NatD { draft: true, .. } => PayloadType::NAT_D_DRAFT,
            Payload::NatOa { draft: false, .. } => PayloadType::NAT_OA,
            Payload::NatOa { draft: true, .. } => PayloadType::NAT_OA_DRAFT,
            Payload::Fragment(_) => PayloadType::FRAGMENT,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// Decodes the body of a payload of type `ty`; `r` covers exactly the body.
    pub fn decode_body(ty: PayloadType, r: &mut Reader<'_>) -> Result<Payload, DecodeError> {
        let p = match ty {
            PayloadType::SA => Payload::Sa(Sa::decode(r)?),
            PayloadType::KE => Payload::Ke(r.rest().to_vec()),
            PayloadType::ID => Payload::Id(Identification::decode(r)?),
            PayloadType::CERT => Payload::Cert {
                encoding: CertEncoding(r.u8()?),
                data: r.rest().to_vec(),
            },
            PayloadType::CR => Payload::CertReq {
                encoding: CertEncoding(r.u8()?),
                authority: r.rest().to_vec(),
            },
            PayloadType::HASH => Payload::Hash(r.rest().to_vec()),
            PayloadType::SIG => Payload::Sig(r.rest().to_vec()),
            PayloadType::NONCE => Payload::Nonce(r.rest().to_vec()),
            PayloadType::NOTIFY => {
                let doi = Doi(r.u32()?);
                let protocol = ProtocolId(r.u8()?);
                let spi_size = usize::from(r.u8()?);
                let notify_type = NotifyType(r.u16()?);
                let spi = r.take(spi_size)?.to_vec();
                Payload::Notify(Notify {
                    doi,
                    protocol,
                    notify_type,
                    spi,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::DELETE => {
                let doi = Doi(r.u32()?);
                let protocol = ProtocolId(r.u8()?);
                let spi_size = r.u8()?;
                let at = r.offset();
                let n = usize::from(r.u16()?);
                let size = usize::from(spi_size);
                if n > MAX_DELETE_SPIS
                    || size.checked_mul(n) != Some(r.left())
                    || (n > 0 && size == 0)
                {
                    return Err(DecodeError::new(at, ErrorKind::BadSpi));
                }
                let mut spis = Vec::with_capacity(n);
                for _ in 0..n {
                    spis.push(r.take(size)?.to_vec());
                }
                Payload::Delete(Delete {
                    doi,
                    protocol,
                    spi_size,
                    spis,
                })
            }
            PayloadType::VENDOR_ID => Payload::VendorId(r.rest().to_vec()),
            PayloadType::ATTR => {
                let cfg_type = CfgType(r.u8()?);
                let _reserved = r.u8()?;
                let identifier = r.u16()?;
                Payload::Attr(ConfigAttributes {
                    cfg_type,
                    identifier,
                    attributes: decode_attributes(r)?,
                })
            }
            PayloadType::NAT_D | PayloadType::NAT_D_DRAFT => Payload::NatD {
                draft: ty == PayloadType::NAT_D_DRAFT,
                hash: r.rest().to_vec(),
            },
            PayloadType::NAT_OA | PayloadType::NAT_OA_DRAFT => {
                let at = r.offset();
                let t = IdType(r.u8()?);
                let _reserved = r.take(3)?;
                let rest = r.rest();
                let addr = match (t, rest.len()) {
                    (IdType::IPV4_ADDR, 4) => v4(rest),
                    (IdType::IPV6_ADDR, 16) => v6(rest),
                    _ => return Err(DecodeError::new(at, ErrorKind::BadNatOa)),
                };
                Payload::NatOa {
                    draft: ty == PayloadType::NAT_OA_DRAFT,
                    addr,
                }
            }
            PayloadType::FRAGMENT => Payload::Fragment(r.rest().to_vec()),
            _ => Payload::Unknown {
                payload_type: ty,
                body: r.rest().to_vec(),
            },
        };
        r.expect_end()?;
        Ok(p)
    }

    /// Appends the body (without generic header) to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Payload::Sa(sa) => sa.encode_body(out)?,
            Payload::Ke(b)
            | Payload::Hash(b)
            | Payload::Sig(b)
            | Payload::Nonce(b)
            | Payload::VendorId(b)
            | Payload::Fragment(b)
            | Payload::NatD { hash: b, .. }
            | Payload::Unknown { body: b, .. } => out.extend_from_slice(b),
            Payload::Id(id) => out.extend_from_slice(&id.body_bytes()),
            Payload::Cert { encoding, data } => {
                out.push(encoding.0);
                out.extend_from_slice(data);
            }
            Payload::CertReq {
                encoding,
                authority,
            } => {
                out.push(encoding.0);
                out.extend_from_slice(authority);
            }
            Payload::Notify(n) => {
                out.extend_from_slice(&n.doi.0.to_be_bytes());
                out.push(n.protocol.0);
                out.push(u8::try_from(n.spi.len()).map_err(|_| EncodeError::OutOfRange)?);
                out.extend_from_slice(&n.notify_type.0.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Payload::Delete(d) => {
                out.extend_from_slice(&d.doi.0.to_be_bytes());
                out.push(d.protocol.0);
                out.push(d.spi_size);
                let n = u16::try_from(d.spis.len()).map_err(|_| EncodeError::OutOfRange)?;
                out.extend_from_slice(&n.to_be_bytes());
                for s in &d.spis {
                    if s.len() != usize::from(d.spi_size) {
                        return Err(EncodeError::OutOfRange);
                    }
                    out.extend_from_slice(s);
                }
            }
            Payload::Attr(a) => {
                out.push(a.cfg_type.0);
                out.push(0);
                out.extend_from_slice(&a.identifier.to_be_bytes());
                encode_attributes(&a.attributes, out);
            }
            Payload::NatOa { addr, .. } => {
                out.push(if addr.is_ipv4() {
                    IdType::IPV4_ADDR.0
                } else {
                    IdType::IPV6_ADDR.0
                });
                out.extend_from_slice(&[0, 0, 0]);
                out.extend_from_slice(&ip_bytes(addr));
            }
        }
        Ok(())
    }
}

impl Sa {
    /// A locally built SA payload (DOI IPsec, SIT_IDENTITY_ONLY).
    pub fn new(proposals: Vec<Proposal>) -> Self {
        Sa {
            doi: Doi::IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals,
            raw: Vec::new(),
        }
    }

    /// The body bytes as they go on the wire (for our own SAi_b).
    pub fn body_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::new();
        self.encode_body(&mut v)?;
        Ok(v)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw = r.clone().rest().to_vec();
        let doi = Doi(r.u32()?);
        let at = r.offset();
        let situation = r.u32()?;
        if situation & SIT_LABELS != 0 {
            return Err(DecodeError::new(at, ErrorKind::UnsupportedSituation));
        }
        let mut proposals = Vec::new();
        let mut next = if r.is_empty() {
            PayloadType::NONE
        } else {
            PayloadType::PROPOSAL
        };
        while next != PayloadType::NONE {
            if next != PayloadType::PROPOSAL {
                return Err(r.err(ErrorKind::BadSubstructureType));
            }
            if proposals.len() >= MAX_PROPOSALS {
                return Err(r.err(ErrorKind::TooManyProposals));
            }
            let (np, mut body) = substructure(r)?;
            next = np;
            proposals.push(Proposal::decode(&mut body)?);
        }
        r.expect_end()?;
        Ok(Sa {
            doi,
            situation,
            proposals,
            raw,
        })
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.doi.0.to_be_bytes());
        out.extend_from_slice(&self.situation.to_be_bytes());
        for (i, p) in self.proposals.iter().enumerate() {
            let np = if i + 1 == self.proposals.len() {
                0
            } else {
                PayloadType::PROPOSAL.0
            };
            let start = out.len();
            out.extend_from_slice(&[np, 0]);
            let mut g = LengthPatch::u16(out, start);
            p.encode_body(&mut g)?;
        }
        Ok(())
    }
}

/// Reads a proposal/transform generic header and returns (next, body reader).
fn substructure<'a>(r: &mut Reader<'a>) -> Result<(PayloadType, Reader<'a>), DecodeError> {
    let at = r.offset();
    let np = PayloadType(r.u8()?);
    let _reserved = r.u8()?;
    let len = usize::from(r.u16()?);
    if len < 4 || len - 4 > r.left() {
        return Err(DecodeError::new(at, ErrorKind::BadSubstructureLength));
    }
    Ok((np, r.sub(len - 4)?))
}

impl Proposal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let number = r.u8()?;
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let count_at = r.offset();
        let count = usize::from(r.u8()?);
        let spi = r.take(spi_size)?.to_vec();
        if count > MAX_TRANSFORMS {
            return Err(DecodeError::new(count_at, ErrorKind::TooManyTransforms));
        }
        let mut transforms = Vec::with_capacity(count);
        let mut next = if r.is_empty() {
            PayloadType::NONE
        } else {
            PayloadType::TRANSFORM
        };
        while next != PayloadType::NONE {
            if next != PayloadType::TRANSFORM {
                return Err(r.err(ErrorKind::BadSubstructureType));
            }
            if transforms.len() >= count {
                return Err(DecodeError::new(
                    count_at,
                    ErrorKind::TransformCountMismatch,
                ));
            }
            let (np, mut body) = substructure(r)?;
            next = np;
            let number = body.u8()?;
            let id = body.u8()?;
            let _reserved = body.u16()?;
            let attributes = decode_attributes(&mut body)?;
            transforms.push(Transform {
                number,
                id,
                attributes,
            });
        }
        r.expect_end()?;
        if transforms.len() != count {
            return Err(DecodeError::new(
                count_at,
                ErrorKind::TransformCountMismatch,
            ));
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(u8::try_from(self.spi.len()).map_err(|_| EncodeError::OutOfRange)?);
        out.push(u8::try_from(self.transforms.len()).map_err(|_| EncodeError::OutOfRange)?);
        out.extend_from_slice(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            let np = if i + 1 == self.transforms.len() {
                0
            } else {
                PayloadType::TRANSFORM.0
            };
            let start = out.len();
            out.extend_from_slice(&[np, 0]);
            let mut g = LengthPatch::u16(out, start);
            g.push(t.number);
            g.push(t.id);
            g.extend_from_slice(&[0, 0]);
            encode_attributes(&t.attributes, &mut g);
        }
        Ok(())
    }
}
