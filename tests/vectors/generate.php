<?php
// Writes tests/vectors/php.json: hashes made by the PHP platforms' own hashing code, so the
// suite checks sso_bridge's verifiers against them without needing PHP at test time.
//
//   php tests/vectors/generate.php > tests/vectors/php.json      (Debian: apt-get install php-cli)
//
// Each function below transcribes the named platform function line for line (read from the
// platform's repository; no platform code is copied into this project). PHP's own primitives
// (password_hash, crypt, hash, hash_hmac, sodium_crypto_pwhash) do the hashing, exactly as on
// the platforms. Every vector is also checked here with the platform's own check function
// (transcribed likewise) before it is written.

declare(strict_types=1);

require __DIR__ . '/platforms.php';

$vectors = [];

// --- WordPress 6.8+: wp-includes/pluggable.php ----------------------------------------------
foreach (['correct horse battery staple', 'pässwörd ✓ 密码', str_repeat('long-', 30)] as $pw) {
    $h = wp_hash_password_68($pw, ['cost' => 5]);
    add($vectors, 'wordpress', $pw, $h, 'WordPress 6.8 pluggable.php wp_hash_password (cost 5 via wp_hash_password_options)', wp_check_password_68($pw, $h));
}
$h = wp_hash_password_68('correct horse battery staple');
add($vectors, 'wordpress', 'correct horse battery staple', $h, 'WordPress 6.8 pluggable.php wp_hash_password (PHP default cost)', wp_check_password_68('correct horse battery staple', $h));
add($vectors, 'hex_md5', 'correct horse battery staple', md5('correct horse battery staple'), 'WordPress pluggable.php wp_check_password: hashes of 32 chars or fewer are md5(password)', true);

// --- Magento 2: lib/internal/Magento/Framework/Encryption/Encryptor.php ---------------------
foreach ([0, 1, 2, 3] as $version) {
    foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
        $h = magento_get_hash($pw, alnum(32), $version);
        add($vectors, 'magento2', $pw, $h, "Magento 2 Encryptor::getHash version $version", magento_is_valid_hash($pw, $h));
    }
}
// A short salt (Magento pads it to 16 bytes for libsodium) and an upgraded md5 -> sha256 chain.
$h = magento_get_hash('correct horse battery staple', 'abc', 3);
add($vectors, 'magento2', 'correct horse battery staple', $h, 'Magento 2 Encryptor::getHash version 3, 3-char salt (str_pad to 16)', magento_is_valid_hash('correct horse battery staple', $h));
$salt = alnum(32);
$chain = hash('sha256', $salt . hash('md5', $salt . 'correct horse battery staple')) . ":$salt:0:1";
add($vectors, 'magento2', 'correct horse battery staple', $chain, 'Magento 2 Encryptor::isValidHash, upgraded hash with versions 0:1', magento_is_valid_hash('correct horse battery staple', $chain));

// --- Magento 1: app/code/core/Mage/Core/Model/Encryption.php getHash(password, 2) -------------
$salt = alnum(2);
add($vectors, 'oscommerce_md5', 'correct horse battery staple', md5($salt . 'correct horse battery staple') . ":$salt", 'Magento 1 CE Mage_Core_Model_Encryption::getHash (md5, 2-char salt)', true);
$salt = alnum(32);
add($vectors, 'magento1_sha256', 'pässwörd ✓ 密码', hash('sha256', $salt . 'pässwörd ✓ 密码') . ":$salt", 'Magento 1 EE Enterprise_Pci_Model_Encryption::getHash (sha256)', true);

// --- osCommerce 2.x: catalog/includes/functions/password_funcs.php tep_encrypt_password ------
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $h = tep_encrypt_password($pw);
    add($vectors, 'oscommerce_md5', $pw, $h, 'osCommerce 2.3 tep_encrypt_password', tep_validate_password($pw, $h));
}

// --- Joomla: libraries/src/User/UserHelper.php (3.x/4.x) -------------------------------------
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $h = password_hash($pw, PASSWORD_DEFAULT);
    add($vectors, 'bcrypt', $pw, $h, 'Joomla 3/4 UserHelper::hashPassword (password_hash PASSWORD_DEFAULT)', joomla_verify($pw, $h));
    $salt = alnum(32);
    $h = md5($pw . $salt) . ':' . $salt;
    add($vectors, 'joomla_md5', $pw, $h, 'Joomla 1.5-3 UserHelper::getCryptedPassword md5-hex (md5(password . salt):salt)', joomla_verify($pw, $h));
    $h = '{SHA256}' . hash('sha256', $pw . $salt) . ':' . $salt;
    add($vectors, 'joomla_sha256', $pw, $h, 'Joomla 3 UserHelper::getCryptedPassword sha256 ({SHA256}hex:salt)', joomla_verify($pw, $h));
}
$h = password_hash('correct horse battery staple', PASSWORD_ARGON2ID);
add($vectors, 'argon2', 'correct horse battery staple', $h, 'Joomla 4 UserHelper::hashPassword with PASSWORD_ARGON2ID', joomla_verify('correct horse battery staple', $h));

// --- Shopware 5: engine/Shopware/Components/Password/Encoder/*.php ---------------------------
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $h = shopware_sha256_generate($pw, shopware_salt(22), 1000);
    add($vectors, 'shopware5_sha256', $pw, $h, 'Shopware 5 Encoder/Sha256.php encodePassword (1000 iterations, 22-char salt)', shopware_sha256_valid($pw, $h));
    $h = password_hash($pw, PASSWORD_BCRYPT, ['cost' => 10]);
    add($vectors, 'bcrypt', $pw, $h, 'Shopware 5 Encoder/Bcrypt.php encodePassword (password_hash, cost 10)', password_verify($pw, $h));
    $h = md5($pw);
    add($vectors, 'hex_md5', $pw, $h, 'Shopware 5 Encoder/Md5.php encodePassword', shopware_md5_valid($pw, $h));
    $salt = alnum(8);
    $h = md5($pw . $salt) . ':' . $salt;
    add($vectors, 'joomla_md5', $pw, $h, 'Shopware 5 Encoder/Md5.php isPasswordValid, salted form (md5(password . salt):salt)', shopware_md5_valid($pw, $h));
    $h = md5(SHOPWARE_BACKEND_SALT . md5($pw));
    add($vectors, 'hex_md5', $pw, $h, 'Shopware 5 Encoder/LegacyBackendMd5.php encodePassword (detected as hex_md5, verified as shopware5_backend_md5)', $h === md5(SHOPWARE_BACKEND_SALT . md5($pw)));
}

// --- PrestaShop: classes/Tools.php (1.6) and src/Core/Crypto/Hashing.php (1.7+) --------------
$cookie_key = ps_passwd_gen(56);
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $h = md5($cookie_key . $pw);  // Tools::encrypt
    add($vectors, 'prestashop_md5', $pw, $h, 'PrestaShop 1.6 Tools::encrypt (md5(_COOKIE_KEY_ . passwd))', hash_equals($h, md5($cookie_key . $pw)), ['pepper' => $cookie_key]);
    $h = password_hash($pw, PASSWORD_BCRYPT);  // Hashing::hash
    add($vectors, 'bcrypt', $pw, $h, 'PrestaShop 1.7 Core\\Crypto\\Hashing::hash (password_hash PASSWORD_BCRYPT)', password_verify($pw, $h));
}

// --- OpenCart 1.5-3: catalog/model/account/customer.php addCustomer / login -------------------
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $salt = oc_token(9);
    $h = sha1($salt . sha1($salt . sha1($pw)));
    add($vectors, 'opencart_sha1', $pw, $h, 'OpenCart 2/3 model/account/customer.php addCustomer (sha1(salt . sha1(salt . sha1(password))))', $h === sha1($salt . sha1($salt . sha1($pw))), ['salt' => $salt]);
    $h = password_hash($pw, PASSWORD_DEFAULT);
    add($vectors, 'bcrypt', $pw, $h, 'OpenCart 4 model/account/customer.php addCustomer (password_hash PASSWORD_DEFAULT)', password_verify($pw, $h));
}

// --- Drupal 7: includes/password.inc ---------------------------------------------------------
foreach (['$P$', '$H$'] as $ident) {
    $pw = 'correct horse battery staple';
    $setting = $ident . DRUPAL_ITOA64[11] . _password_base64_encode(random_bytes(6), 6);
    $h = 'U' . _password_crypt('md5', md5($pw), $setting);  // update 7000: user_hash_password(md5)
    add($vectors, 'drupal7_md5_phpass', $pw, $h, "Drupal 7 password.inc _password_crypt('md5', md5(password)) with U prefix (user_update_7000)", user_check_password_d7($pw, $h));
}
$setting = '$S$' . DRUPAL_ITOA64[15] . _password_base64_encode(random_bytes(6), 6);
$h = _password_crypt('sha512', 'pässwörd ✓ 密码', $setting);
add($vectors, 'drupal7_sha512', 'pässwörd ✓ 密码', $h, 'Drupal 7 password.inc user_hash_password (_password_crypt sha512, count 2^15)', user_check_password_d7('pässwörd ✓ 密码', $h));

// --- ASP.NET Membership: SqlMembershipProvider.EncodePassword, PasswordFormat 1 (Hashed) ------
foreach (['sha1', 'sha256'] as $algo) {
    foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
        $salt = base64_encode(random_bytes(16));      // SqlMembershipProvider.GenerateSalt
        $h = membership_encode($pw, $salt, $algo);
        add($vectors, 'aspnet_membership', $pw, $h, "ASP.NET SqlMembershipProvider.EncodePassword ($algo), as republished in AspNetCore.Docs sample6.cs", hash_equals($h, membership_encode($pw, $salt, $algo)), ['salt' => $salt]);
    }
}

// --- crypt(3) as PHP implements it (ext/standard/crypt*.c) ------------------------------------
$pw = 'correct horse battery staple';
foreach (['$1$ab_cd!$', '$1$a-b$', '$1$é$', '$1$12345678$', '$1$x$'] as $setting) {
    $h = crypt($pw, $setting);
    add($vectors, 'md5_crypt', $pw, $h, "PHP crypt() md5-crypt with salt setting '$setting'", hash_equals($h, crypt($pw, $h)));
}
foreach (['rl', 'ab', './'] as $salt) {
    $h = crypt($pw, $salt);
    add($vectors, 'des_crypt', $pw, $h, "PHP crypt() standard DES with salt '$salt'", hash_equals($h, crypt($pw, $h)));
}
add($vectors, 'des_crypt', 'rasmuslerdorf', 'rl.3StKT.4T8M', 'PHP manual, crypt() example (standard DES)', hash_equals('rl.3StKT.4T8M', crypt('rasmuslerdorf', 'rl')));

echo json_encode(['generator' => 'tests/vectors/generate.php', 'php' => PHP_VERSION, 'vectors' => $vectors], JSON_PRETTY_PRINT | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
