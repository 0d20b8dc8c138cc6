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

$vectors = [];

function add(array &$vectors, string $scheme, string $password, string $hash, string $source,
             bool $check, array $extra = []): void {
    if (!$check) {
        fwrite(STDERR, "platform check failed for $scheme\n");
        exit(1);
    }
    $vectors[] = array_merge(
        ['scheme' => $scheme, 'password' => $password, 'hash' => $hash, 'source' => $source],
        $extra
    );
}

function alnum(int $length): string {
    // Magento\Framework\Math\Random::getRandomString / Joomla genRandomPassword alphabets.
    $chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    $out = '';
    for ($i = 0; $i < $length; $i++) {
        $out .= $chars[random_int(0, strlen($chars) - 1)];
    }
    return $out;
}

// --- WordPress 6.8+: wp-includes/pluggable.php ----------------------------------------------
function wp_hash_password_68(string $password, array $options = []): string {
    $password_to_hash = base64_encode(hash_hmac('sha384', trim($password), 'wp-sha384', true));
    return '$wp' . password_hash($password_to_hash, PASSWORD_BCRYPT, $options);
}
function wp_check_password_68(string $password, string $hash): bool {
    if (strlen($hash) <= 32) {
        return hash_equals($hash, md5($password));
    }
    if (str_starts_with($hash, '$wp')) {
        $password_to_verify = base64_encode(hash_hmac('sha384', $password, 'wp-sha384', true));
        return password_verify($password_to_verify, substr($hash, 3));
    }
    return password_verify($password, $hash);
}
foreach (['correct horse battery staple', 'pässwörd ✓ 密码', str_repeat('long-', 30)] as $pw) {
    $h = wp_hash_password_68($pw, ['cost' => 5]);
    add($vectors, 'wordpress', $pw, $h, 'WordPress 6.8 pluggable.php wp_hash_password (cost 5 via wp_hash_password_options)', wp_check_password_68($pw, $h));
}
$h = wp_hash_password_68('correct horse battery staple');
add($vectors, 'wordpress', 'correct horse battery staple', $h, 'WordPress 6.8 pluggable.php wp_hash_password (PHP default cost)', wp_check_password_68('correct horse battery staple', $h));
add($vectors, 'hex_md5', 'correct horse battery staple', md5('correct horse battery staple'), 'WordPress pluggable.php wp_check_password: hashes of 32 chars or fewer are md5(password)', true);

// --- Magento 2: lib/internal/Magento/Framework/Encryption/Encryptor.php ---------------------
function magento_argon(string $data, int $seed, int $ops, int $mem, string $salt): string {
    if (strlen($salt) < SODIUM_CRYPTO_PWHASH_SALTBYTES) {
        $salt = str_pad($salt, SODIUM_CRYPTO_PWHASH_SALTBYTES, $salt);
    } elseif (strlen($salt) > SODIUM_CRYPTO_PWHASH_SALTBYTES) {
        $salt = substr($salt, 0, SODIUM_CRYPTO_PWHASH_SALTBYTES);
    }
    return bin2hex(sodium_crypto_pwhash($seed, $data, $salt, $ops, $mem, SODIUM_CRYPTO_PWHASH_ALG_ARGON2ID13));
}
function magento_get_hash(string $password, string $salt, int $version): string {
    // Encryptor::getHash with a given salt.
    if ($version === 2 || $version === 3) {
        $seed = SODIUM_CRYPTO_SIGN_SEEDBYTES;
        $ops = SODIUM_CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE;
        $mem = SODIUM_CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE;
        $v = $version === 3 ? implode('_', [3, $seed, $ops, $mem]) : (string)$version;
        return implode(':', [magento_argon($password, $seed, $ops, $mem, $salt), $salt, $v]);
    }
    $algo = [0 => 'md5', 1 => 'sha256'][$version];
    return implode(':', [hash($algo, $salt . $password), $salt, $version]);
}
function magento_is_valid_hash(string $password, string $hash): bool {
    // Encryptor::isValidHash (explodePasswordHash + the version loop).
    [$digest, $salt, $versions] = explode(':', $hash, 3);
    $recreated = $password;
    foreach (explode(':', $versions) as $v) {
        if (preg_match('/^3\_(?<seed>\d+)\_(?<ops>\d+)\_(?<mem>\d+)$/', $v, $p)) {
            $recreated = magento_argon($recreated, (int)$p['seed'], (int)$p['ops'], (int)$p['mem'], $salt);
        } elseif ((int)$v === 2) {
            $recreated = magento_argon($recreated, SODIUM_CRYPTO_SIGN_SEEDBYTES, SODIUM_CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE, SODIUM_CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE, $salt);
        } else {
            $recreated = hash([0 => 'md5', 1 => 'sha256'][(int)$v], $salt . $recreated);
        }
    }
    return hash_equals($digest, $recreated);
}
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
function tep_encrypt_password(string $plain): string {
    $password = '';
    for ($i = 0; $i < 10; $i++) {
        $password .= (string)random_int(0, PHP_INT_MAX);
    }
    $salt = substr(md5($password), 0, 2);
    return md5($salt . $plain) . ':' . $salt;
}
function tep_validate_password(string $plain, string $encrypted): bool {
    $stack = explode(':', $encrypted);
    return count($stack) === 2 && md5($stack[1] . $plain) === $stack[0];
}
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $h = tep_encrypt_password($pw);
    add($vectors, 'oscommerce_md5', $pw, $h, 'osCommerce 2.3 tep_encrypt_password', tep_validate_password($pw, $h));
}

// --- Joomla: libraries/src/User/UserHelper.php (3.x/4.x) -------------------------------------
function joomla_verify(string $password, string $hash): bool {
    // UserHelper::verifyPassword's branches.
    if (str_starts_with($hash, '$2') || str_starts_with($hash, '$argon2')) {
        return password_verify($password, $hash);
    }
    if (substr($hash, 0, 8) === '{SHA256}') {
        $parts = explode(':', $hash);
        $salt = $parts[1] ?? '';
        return hash_equals($hash, '{SHA256}' . hash('sha256', $password . $salt) . ':' . $salt);
    }
    $parts = explode(':', $hash);
    $salt = $parts[1] ?? '';
    $test = md5($password . $salt) . ($salt ? ':' . $salt : (strpos($hash, ':') !== false ? ':' : ''));
    return hash_equals($hash, $test);
}
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
function shopware_sha256_generate(string $password, string $salt, int $iterations): string {
    $hash = '';
    for ($i = 0; $i <= $iterations; $i++) {
        $hash = hash('sha256', $hash . $password . $salt);
    }
    return $iterations . ':' . $salt . ':' . $hash;
}
function shopware_sha256_valid(string $password, string $hash): bool {
    [$iterations, $salt] = explode(':', $hash);
    return hash_equals($hash, shopware_sha256_generate($password, $salt, (int)$iterations));
}
function shopware_salt(int $len): string {
    // Sha256::getSalt: base64 of random bytes, '+' -> '.', cut to salt_len.
    return substr(str_replace('+', '.', base64_encode(random_bytes((int)($len * 3 / 4 + 1)))), 0, $len);
}
function shopware_md5_valid(string $password, string $hash): bool {
    if (strpos($hash, ':') === false) {
        return $hash == md5($password);
    }
    [$md5, $salt] = explode(':', $hash);
    return $md5 == md5($password . $salt);
}
const SHOPWARE_BACKEND_SALT = 'A9ASD:_AD!_=%a8nx0asssblPlasS$';
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
function ps_passwd_gen(int $length): string {
    // Tools::passwdGen(56) alphabet for _COOKIE_KEY_.
    return alnum($length);
}
$cookie_key = ps_passwd_gen(56);
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $h = md5($cookie_key . $pw);  // Tools::encrypt
    add($vectors, 'prestashop_md5', $pw, $h, 'PrestaShop 1.6 Tools::encrypt (md5(_COOKIE_KEY_ . passwd))', hash_equals($h, md5($cookie_key . $pw)), ['pepper' => $cookie_key]);
    $h = password_hash($pw, PASSWORD_BCRYPT);  // Hashing::hash
    add($vectors, 'bcrypt', $pw, $h, 'PrestaShop 1.7 Core\\Crypto\\Hashing::hash (password_hash PASSWORD_BCRYPT)', password_verify($pw, $h));
}

// --- OpenCart 1.5-3: catalog/model/account/customer.php addCustomer / login -------------------
function oc_token(int $length): string {
    return alnum($length);  // system/helper/general.php token()
}
foreach (['correct horse battery staple', 'pässwörd ✓ 密码'] as $pw) {
    $salt = oc_token(9);
    $h = sha1($salt . sha1($salt . sha1($pw)));
    add($vectors, 'opencart_sha1', $pw, $h, 'OpenCart 2/3 model/account/customer.php addCustomer (sha1(salt . sha1(salt . sha1(password))))', $h === sha1($salt . sha1($salt . sha1($pw))), ['salt' => $salt]);
    $h = password_hash($pw, PASSWORD_DEFAULT);
    add($vectors, 'bcrypt', $pw, $h, 'OpenCart 4 model/account/customer.php addCustomer (password_hash PASSWORD_DEFAULT)', password_verify($pw, $h));
}

// --- Drupal 7: includes/password.inc ---------------------------------------------------------
const DRUPAL_ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function _password_base64_encode(string $input, int $count): string {
    $output = '';
    $i = 0;
    do {
        $value = ord($input[$i++]);
        $output .= DRUPAL_ITOA64[$value & 0x3f];
        if ($i < $count) {
            $value |= ord($input[$i]) << 8;
        }
        $output .= DRUPAL_ITOA64[($value >> 6) & 0x3f];
        if ($i++ >= $count) {
            break;
        }
        if ($i < $count) {
            $value |= ord($input[$i]) << 16;
        }
        $output .= DRUPAL_ITOA64[($value >> 12) & 0x3f];
        if ($i++ >= $count) {
            break;
        }
        $output .= DRUPAL_ITOA64[($value >> 18) & 0x3f];
    } while ($i < $count);
    return $output;
}
function _password_crypt(string $algo, string $password, string $setting): string {
    $count_log2 = strpos(DRUPAL_ITOA64, $setting[3]);
    $salt = substr($setting, 4, 8);
    $count = 1 << $count_log2;
    $hash = hash($algo, $salt . $password, true);
    do {
        $hash = hash($algo, $hash . $password, true);
    } while (--$count);
    $len = strlen($hash);
    $output = $setting . _password_base64_encode($hash, $len);
    $expected = 12 + (int)ceil((8 * $len) / 6);
    return substr($output, 0, $expected > 55 ? 55 : $expected);
}
function user_check_password_d7(string $password, string $stored): bool {
    if (substr($stored, 0, 2) == 'U$') {
        $stored = substr($stored, 1);
        $password = md5($password);
    }
    $type = substr($stored, 0, 3);
    $algo = $type === '$S$' ? 'sha512' : 'md5';
    return hash_equals($stored, _password_crypt($algo, $password, substr($stored, 0, 12)));
}
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
// Transcribed from the provider code Microsoft republishes in its Membership-to-Identity
// migration guide (AspNetCore.Docs .../migrating-an-existing-website-from-sql-membership-to-
// aspnet-identity/samples/sample6.cs, EncryptPassword), for the non-keyed SHA1 and SHA256 types.
function membership_encode(string $pass, string $salt, string $algo): string {
    $bIn = iconv('UTF-8', 'UTF-16LE', $pass);       // Encoding.Unicode.GetBytes(pass)
    $bSalt = base64_decode($salt);                    // Convert.FromBase64String(salt)
    return base64_encode(hash($algo, $bSalt . $bIn, true));
}
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
