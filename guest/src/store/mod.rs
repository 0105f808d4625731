//! Mail store (work in progress).
