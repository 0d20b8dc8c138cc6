-- Try-out only: the merchant's user database beside the bridge's own (compose.yaml).
CREATE DATABASE merchant OWNER sso_bridge;
