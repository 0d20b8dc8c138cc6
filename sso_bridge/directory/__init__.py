"""The merchant user directory: looking up shoppers and verifying their stored passwords."""
