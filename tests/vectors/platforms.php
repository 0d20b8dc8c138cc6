<?php
// The platforms' hashing and checking functions, transcribed line for line from the named
// platform source files (read from the platforms' repositories; no platform code is copied).
// Used by generate.php (to make tests/vectors/php.json) and verify.php (the live check of the
// hashes sso_bridge writes).

declare(strict_types=1);

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

// WordPress 6.8+ wp-includes/pluggable.php: wp_hash_password (default algorithm, bcrypt).
function wp_hash_password_68(string $password, array $options = []): string {
    $password_to_hash = base64_encode(hash_hmac('sha384', trim($password), 'wp-sha384', true));
    return '$wp' . password_hash($password_to_hash, PASSWORD_BCRYPT, $options);
}

// WordPress 6.8+ wp-includes/pluggable.php: wp_check_password (md5, $wp and password_verify branches).
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

// Magento 2 lib/internal/Magento/Framework/Encryption/Encryptor.php: getArgonHash.
function magento_argon(string $data, int $seed, int $ops, int $mem, string $salt): string {
    if (strlen($salt) < SODIUM_CRYPTO_PWHASH_SALTBYTES) {
        $salt = str_pad($salt, SODIUM_CRYPTO_PWHASH_SALTBYTES, $salt);
    } elseif (strlen($salt) > SODIUM_CRYPTO_PWHASH_SALTBYTES) {
        $salt = substr($salt, 0, SODIUM_CRYPTO_PWHASH_SALTBYTES);
    }
    return bin2hex(sodium_crypto_pwhash($seed, $data, $salt, $ops, $mem, SODIUM_CRYPTO_PWHASH_ALG_ARGON2ID13));
}

// Magento 2 Encryptor::getHash.
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

// Magento 2 Encryptor::isValidHash.
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

// osCommerce 2.3 catalog/includes/functions/password_funcs.php: tep_encrypt_password.
function tep_encrypt_password(string $plain): string {
    $password = '';
    for ($i = 0; $i < 10; $i++) {
        $password .= (string)random_int(0, PHP_INT_MAX);
    }
    $salt = substr(md5($password), 0, 2);
    return md5($salt . $plain) . ':' . $salt;
}

// osCommerce 2.3 password_funcs.php: tep_validate_password.
function tep_validate_password(string $plain, string $encrypted): bool {
    $stack = explode(':', $encrypted);
    return count($stack) === 2 && md5($stack[1] . $plain) === $stack[0];
}

// Joomla 3 libraries/src/User/UserHelper.php: verifyPassword (without the rehash step).
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

// Shopware 5 engine/Shopware/Components/Password/Encoder/Sha256.php: generateInternal.
function shopware_sha256_generate(string $password, string $salt, int $iterations): string {
    $hash = '';
    for ($i = 0; $i <= $iterations; $i++) {
        $hash = hash('sha256', $hash . $password . $salt);
    }
    return $iterations . ':' . $salt . ':' . $hash;
}

// Shopware 5 Encoder/Sha256.php: isPasswordValid.
function shopware_sha256_valid(string $password, string $hash): bool {
    [$iterations, $salt] = explode(':', $hash);
    return hash_equals($hash, shopware_sha256_generate($password, $salt, (int)$iterations));
}

// Shopware 5 Encoder/Sha256.php: getSalt.
function shopware_salt(int $len): string {
    // Sha256::getSalt: base64 of random bytes, '+' -> '.', cut to salt_len.
    return substr(str_replace('+', '.', base64_encode(random_bytes((int)($len * 3 / 4 + 1)))), 0, $len);
}

// Shopware 5 Encoder/Md5.php: isPasswordValid.
function shopware_md5_valid(string $password, string $hash): bool {
    if (strpos($hash, ':') === false) {
        return $hash == md5($password);
    }
    [$md5, $salt] = explode(':', $hash);
    return $md5 == md5($password . $salt);
}

// Shopware 5 Encoder/LegacyBackendMd5.php: the fixed salt.
const SHOPWARE_BACKEND_SALT = 'A9ASD:_AD!_=%a8nx0asssblPlasS$';
// PrestaShop 1.6 classes/Tools.php: passwdGen (the installer's _COOKIE_KEY_).
function ps_passwd_gen(int $length): string {
    // Tools::passwdGen(56) alphabet for _COOKIE_KEY_.
    return alnum($length);
}

// OpenCart system/helper/general.php: token().
function oc_token(int $length): string {
    return alnum($length);  // system/helper/general.php token()
}

// Drupal 7 includes/password.inc: _password_itoa64, _password_base64_encode, _password_crypt,
// user_check_password.
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

// Transcribed from the provider code Microsoft republishes in its Membership-to-Identity
// migration guide (AspNetCore.Docs .../migrating-an-existing-website-from-sql-membership-to-
// aspnet-identity/samples/sample6.cs, EncryptPassword), for the non-keyed SHA1 and SHA256 types.
// ASP.NET SqlMembershipProvider.EncodePassword (see generate.php for the source).
function membership_encode(string $pass, string $salt, string $algo): string {
    $bIn = iconv('UTF-8', 'UTF-16LE', $pass);       // Encoding.Unicode.GetBytes(pass)
    $bSalt = base64_decode($salt);                    // Convert.FromBase64String(salt)
    return base64_encode(hash($algo, $bSalt . $bIn, true));
}
