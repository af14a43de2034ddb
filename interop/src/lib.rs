//! Interoperability scenarios against strongSwan in network namespaces.
