"""Digital River Remote User Management (RUM): messages, XML, password decryption, operations."""
