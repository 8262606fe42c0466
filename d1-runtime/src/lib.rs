//! d1kit runtime (filled by the runtime issues).
