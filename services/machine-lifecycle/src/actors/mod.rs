pub mod waiters;
