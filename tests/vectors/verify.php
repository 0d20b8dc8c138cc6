<?php
// Reads [{"scheme", "password", "hash"}, ...] as JSON on stdin and prints a JSON list of booleans:
// whether the platform's own check (platforms.php) accepts each hash. The live half of
// tests/unit/test_passwords_writers.py: hashes sso_bridge wrote, checked by the platforms' code.

declare(strict_types=1);

require __DIR__ . '/platforms.php';

$results = [];
foreach (json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR) as $item) {
    $password = $item['password'];
    $hash = $item['hash'];
    $results[] = match ($item['scheme']) {
        'wordpress' => wp_check_password_68($password, $hash),
        'magento2' => magento_is_valid_hash($password, $hash),
        // PHP's own password_verify: what Joomla, PrestaShop 1.7, OpenCart 4, Laravel and
        // Shopware use for bcrypt and argon2.
        'bcrypt', 'argon2' => password_verify($password, $hash),
        default => throw new InvalidArgumentException('no PHP check for ' . $item['scheme']),
    };
}
echo json_encode($results), "\n";
