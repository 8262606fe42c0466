//! d1kit procedural macros (filled by the macros issue).
