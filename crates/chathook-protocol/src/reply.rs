//! Typed replies (todo)
