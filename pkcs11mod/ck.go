// Code generated from p11-kit's pkcs11.h (PKCS#11 2.40); DO NOT EDIT.

package pkcs11mod

// Return values (CK_RV).
const (
	CKR_OK                               uint = (0)
	CKR_CANCEL                           uint = (1)
	CKR_HOST_MEMORY                      uint = (2)
	CKR_SLOT_ID_INVALID                  uint = (3)
	CKR_GENERAL_ERROR                    uint = (5)
	CKR_FUNCTION_FAILED                  uint = (6)
	CKR_ARGUMENTS_BAD                    uint = (7)
	CKR_NO_EVENT                         uint = (8)
	CKR_NEED_TO_CREATE_THREADS           uint = (9)
	CKR_CANT_LOCK                        uint = (0xa)
	CKR_ATTRIBUTE_READ_ONLY              uint = (0x10)
	CKR_ATTRIBUTE_SENSITIVE              uint = (0x11)
	CKR_ATTRIBUTE_TYPE_INVALID           uint = (0x12)
	CKR_ATTRIBUTE_VALUE_INVALID          uint = (0x13)
	CKR_ACTION_PROHIBITED                uint = (0x1B)
	CKR_DATA_INVALID                     uint = (0x20)
	CKR_DATA_LEN_RANGE                   uint = (0x21)
	CKR_DEVICE_ERROR                     uint = (0x30)
	CKR_DEVICE_MEMORY                    uint = (0x31)
	CKR_DEVICE_REMOVED                   uint = (0x32)
	CKR_ENCRYPTED_DATA_INVALID           uint = (0x40)
	CKR_ENCRYPTED_DATA_LEN_RANGE         uint = (0x41)
	CKR_FUNCTION_CANCELED                uint = (0x50)
	CKR_FUNCTION_NOT_PARALLEL            uint = (0x51)
	CKR_FUNCTION_NOT_SUPPORTED           uint = (0x54)
	CKR_KEY_HANDLE_INVALID               uint = (0x60)
	CKR_KEY_SIZE_RANGE                   uint = (0x62)
	CKR_KEY_TYPE_INCONSISTENT            uint = (0x63)
	CKR_KEY_NOT_NEEDED                   uint = (0x64)
	CKR_KEY_CHANGED                      uint = (0x65)
	CKR_KEY_NEEDED                       uint = (0x66)
	CKR_KEY_INDIGESTIBLE                 uint = (0x67)
	CKR_KEY_FUNCTION_NOT_PERMITTED       uint = (0x68)
	CKR_KEY_NOT_WRAPPABLE                uint = (0x69)
	CKR_KEY_UNEXTRACTABLE                uint = (0x6a)
	CKR_MECHANISM_INVALID                uint = (0x70)
	CKR_MECHANISM_PARAM_INVALID          uint = (0x71)
	CKR_OBJECT_HANDLE_INVALID            uint = (0x82)
	CKR_OPERATION_ACTIVE                 uint = (0x90)
	CKR_OPERATION_NOT_INITIALIZED        uint = (0x91)
	CKR_PIN_INCORRECT                    uint = (0xa0)
	CKR_PIN_INVALID                      uint = (0xa1)
	CKR_PIN_LEN_RANGE                    uint = (0xa2)
	CKR_PIN_EXPIRED                      uint = (0xa3)
	CKR_PIN_LOCKED                       uint = (0xa4)
	CKR_SESSION_CLOSED                   uint = (0xb0)
	CKR_SESSION_COUNT                    uint = (0xb1)
	CKR_SESSION_HANDLE_INVALID           uint = (0xb3)
	CKR_SESSION_PARALLEL_NOT_SUPPORTED   uint = (0xb4)
	CKR_SESSION_READ_ONLY                uint = (0xb5)
	CKR_SESSION_EXISTS                   uint = (0xb6)
	CKR_SESSION_READ_ONLY_EXISTS         uint = (0xb7)
	CKR_SESSION_READ_WRITE_SO_EXISTS     uint = (0xb8)
	CKR_SIGNATURE_INVALID                uint = (0xc0)
	CKR_SIGNATURE_LEN_RANGE              uint = (0xc1)
	CKR_TEMPLATE_INCOMPLETE              uint = (0xd0)
	CKR_TEMPLATE_INCONSISTENT            uint = (0xd1)
	CKR_TOKEN_NOT_PRESENT                uint = (0xe0)
	CKR_TOKEN_NOT_RECOGNIZED             uint = (0xe1)
	CKR_TOKEN_WRITE_PROTECTED            uint = (0xe2)
	CKR_UNWRAPPING_KEY_HANDLE_INVALID    uint = (0xf0)
	CKR_UNWRAPPING_KEY_SIZE_RANGE        uint = (0xf1)
	CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT uint = (0xf2)
	CKR_USER_ALREADY_LOGGED_IN           uint = (0x100)
	CKR_USER_NOT_LOGGED_IN               uint = (0x101)
	CKR_USER_PIN_NOT_INITIALIZED         uint = (0x102)
	CKR_USER_TYPE_INVALID                uint = (0x103)
	CKR_USER_ANOTHER_ALREADY_LOGGED_IN   uint = (0x104)
	CKR_USER_TOO_MANY_TYPES              uint = (0x105)
	CKR_WRAPPED_KEY_INVALID              uint = (0x110)
	CKR_WRAPPED_KEY_LEN_RANGE            uint = (0x112)
	CKR_WRAPPING_KEY_HANDLE_INVALID      uint = (0x113)
	CKR_WRAPPING_KEY_SIZE_RANGE          uint = (0x114)
	CKR_WRAPPING_KEY_TYPE_INCONSISTENT   uint = (0x115)
	CKR_RANDOM_SEED_NOT_SUPPORTED        uint = (0x120)
	CKR_RANDOM_NO_RNG                    uint = (0x121)
	CKR_DOMAIN_PARAMS_INVALID            uint = (0x130)
	CKR_CURVE_NOT_SUPPORTED              uint = (0x140)
	CKR_BUFFER_TOO_SMALL                 uint = (0x150)
	CKR_SAVED_STATE_INVALID              uint = (0x160)
	CKR_INFORMATION_SENSITIVE            uint = (0x170)
	CKR_STATE_UNSAVEABLE                 uint = (0x180)
	CKR_CRYPTOKI_NOT_INITIALIZED         uint = (0x190)
	CKR_CRYPTOKI_ALREADY_INITIALIZED     uint = (0x191)
	CKR_MUTEX_BAD                        uint = (0x1a0)
	CKR_MUTEX_NOT_LOCKED                 uint = (0x1a1)
	CKR_NEW_PIN_MODE                     uint = (0x1b0)
	CKR_NEXT_OTP                         uint = (0x1b1)
	CKR_EXCEEDED_MAX_ITERATIONS          uint = (0x1c0)
	CKR_FIPS_SELF_TEST_FAILED            uint = (0x1c1)
	CKR_LIBRARY_LOAD_FAILED              uint = (0x1c2)
	CKR_PIN_TOO_WEAK                     uint = (0x1c3)
	CKR_PUBLIC_KEY_INVALID               uint = (0x1c4)
	CKR_FUNCTION_REJECTED                uint = (0x200)
	CKR_VENDOR_DEFINED                   uint = (1 << 31)
)

// Attribute types (CK_ATTRIBUTE_TYPE).
const (
	CKA_CLASS                      uint = (0)
	CKA_TOKEN                      uint = (1)
	CKA_PRIVATE                    uint = (2)
	CKA_LABEL                      uint = (3)
	CKA_APPLICATION                uint = (0x10)
	CKA_VALUE                      uint = (0x11)
	CKA_OBJECT_ID                  uint = (0x12)
	CKA_CERTIFICATE_TYPE           uint = (0x80)
	CKA_ISSUER                     uint = (0x81)
	CKA_SERIAL_NUMBER              uint = (0x82)
	CKA_AC_ISSUER                  uint = (0x83)
	CKA_OWNER                      uint = (0x84)
	CKA_ATTR_TYPES                 uint = (0x85)
	CKA_TRUSTED                    uint = (0x86)
	CKA_CERTIFICATE_CATEGORY       uint = (0x87)
	CKA_JAVA_MIDP_SECURITY_DOMAIN  uint = (0x88)
	CKA_URL                        uint = (0x89)
	CKA_HASH_OF_SUBJECT_PUBLIC_KEY uint = (0x8a)
	CKA_HASH_OF_ISSUER_PUBLIC_KEY  uint = (0x8b)
	CKA_NAME_HASH_ALGORITHM        uint = (0x8c)
	CKA_CHECK_VALUE                uint = (0x90)
	CKA_KEY_TYPE                   uint = (0x100)
	CKA_SUBJECT                    uint = (0x101)
	CKA_ID                         uint = (0x102)
	CKA_SENSITIVE                  uint = (0x103)
	CKA_ENCRYPT                    uint = (0x104)
	CKA_DECRYPT                    uint = (0x105)
	CKA_WRAP                       uint = (0x106)
	CKA_UNWRAP                     uint = (0x107)
	CKA_SIGN                       uint = (0x108)
	CKA_SIGN_RECOVER               uint = (0x109)
	CKA_VERIFY                     uint = (0x10a)
	CKA_VERIFY_RECOVER             uint = (0x10b)
	CKA_DERIVE                     uint = (0x10c)
	CKA_START_DATE                 uint = (0x110)
	CKA_END_DATE                   uint = (0x111)
	CKA_MODULUS                    uint = (0x120)
	CKA_MODULUS_BITS               uint = (0x121)
	CKA_PUBLIC_EXPONENT            uint = (0x122)
	CKA_PRIVATE_EXPONENT           uint = (0x123)
	CKA_PRIME_1                    uint = (0x124)
	CKA_PRIME_2                    uint = (0x125)
	CKA_EXPONENT_1                 uint = (0x126)
	CKA_EXPONENT_2                 uint = (0x127)
	CKA_COEFFICIENT                uint = (0x128)
	CKA_PUBLIC_KEY_INFO            uint = (0x129)
	CKA_PRIME                      uint = (0x130)
	CKA_SUBPRIME                   uint = (0x131)
	CKA_BASE                       uint = (0x132)
	CKA_PRIME_BITS                 uint = (0x133)
	CKA_SUB_PRIME_BITS             uint = (0x134)
	CKA_VALUE_BITS                 uint = (0x160)
	CKA_VALUE_LEN                  uint = (0x161)
	CKA_EXTRACTABLE                uint = (0x162)
	CKA_LOCAL                      uint = (0x163)
	CKA_NEVER_EXTRACTABLE          uint = (0x164)
	CKA_ALWAYS_SENSITIVE           uint = (0x165)
	CKA_KEY_GEN_MECHANISM          uint = (0x166)
	CKA_MODIFIABLE                 uint = (0x170)
	CKA_COPYABLE                   uint = (0x171)
	CKA_DESTROYABLE                uint = (0x172)
	CKA_ECDSA_PARAMS               uint = (0x180)
	CKA_EC_PARAMS                  uint = (0x180)
	CKA_EC_POINT                   uint = (0x181)
	CKA_SECONDARY_AUTH             uint = (0x200)
	CKA_AUTH_PIN_FLAGS             uint = (0x201)
	CKA_ALWAYS_AUTHENTICATE        uint = (0x202)
	CKA_WRAP_WITH_TRUSTED          uint = (0x210)
	CKA_OTP_FORMAT                 uint = (0x220)
	CKA_OTP_LENGTH                 uint = (0x221)
	CKA_OTP_TIME_INTERVAL          uint = (0x222)
	CKA_OTP_USER_FRIENDLY_MODE     uint = (0x223)
	CKA_OTP_CHALLENGE_REQUIREMENT  uint = (0x224)
	CKA_OTP_TIME_REQUIREMENT       uint = (0x225)
	CKA_OTP_COUNTER_REQUIREMENT    uint = (0x226)
	CKA_OTP_PIN_REQUIREMENT        uint = (0x227)
	CKA_OTP_USER_IDENTIFIER        uint = (0x22A)
	CKA_OTP_SERVICE_IDENTIFIER     uint = (0x22B)
	CKA_OTP_SERVICE_LOGO           uint = (0x22C)
	CKA_OTP_SERVICE_LOGO_TYPE      uint = (0x22D)
	CKA_OTP_COUNTER                uint = (0x22E)
	CKA_OTP_TIME                   uint = (0x22F)
	CKA_GOSTR3410_PARAMS           uint = (0x250)
	CKA_GOSTR3411_PARAMS           uint = (0x251)
	CKA_GOST28147_PARAMS           uint = (0x252)
	CKA_HW_FEATURE_TYPE            uint = (0x300)
	CKA_RESET_ON_INIT              uint = (0x301)
	CKA_HAS_RESET                  uint = (0x302)
	CKA_PIXEL_X                    uint = (0x400)
	CKA_PIXEL_Y                    uint = (0x401)
	CKA_RESOLUTION                 uint = (0x402)
	CKA_CHAR_ROWS                  uint = (0x403)
	CKA_CHAR_COLUMNS               uint = (0x404)
	CKA_COLOR                      uint = (0x405)
	CKA_BITS_PER_PIXEL             uint = (0x406)
	CKA_CHAR_SETS                  uint = (0x480)
	CKA_ENCODING_METHODS           uint = (0x481)
	CKA_MIME_TYPES                 uint = (0x482)
	CKA_MECHANISM_TYPE             uint = (0x500)
	CKA_REQUIRED_CMS_ATTRIBUTES    uint = (0x501)
	CKA_DEFAULT_CMS_ATTRIBUTES     uint = (0x502)
	CKA_SUPPORTED_CMS_ATTRIBUTES   uint = (0x503)
	CKA_WRAP_TEMPLATE              uint = (CKF_ARRAY_ATTRIBUTE | 0x211)
	CKA_UNWRAP_TEMPLATE            uint = (CKF_ARRAY_ATTRIBUTE | 0x212)
	CKA_DERIVE_TEMPLATE            uint = (CKF_ARRAY_ATTRIBUTE | 0x213)
	CKA_ALLOWED_MECHANISMS         uint = (CKF_ARRAY_ATTRIBUTE | 0x600)
	CKA_VENDOR_DEFINED             uint = (1 << 31)
)

// Object classes.
const (
	CKO_DATA              uint = (0)
	CKO_CERTIFICATE       uint = (1)
	CKO_PUBLIC_KEY        uint = (2)
	CKO_PRIVATE_KEY       uint = (3)
	CKO_SECRET_KEY        uint = (4)
	CKO_HW_FEATURE        uint = (5)
	CKO_DOMAIN_PARAMETERS uint = (6)
	CKO_MECHANISM         uint = (7)
	CKO_OTP_KEY           uint = (8)
	CKO_VENDOR_DEFINED    uint = (1 << 31)
)

// Key types.
const (
	CKK_RSA            uint = (0)
	CKK_ECDSA          uint = (3)
	CKK_EC             uint = (3)
	CKK_GENERIC_SECRET uint = (0x10)
)

// Mechanisms this library knows.
const (
	CKM_SHA_1           uint = (0x220)
	CKM_SHA256          uint = (0x250)
	CKM_SHA384          uint = (0x260)
	CKM_SHA512          uint = (0x270)
	CKM_EC_KEY_PAIR_GEN uint = (0x1040)
	CKM_ECDSA           uint = (0x1041)
	CKM_ECDSA_SHA1      uint = (0x1042)
	CKM_ECDSA_SHA224    uint = (0x1043)
	CKM_ECDSA_SHA256    uint = (0x1044)
	CKM_ECDSA_SHA384    uint = (0x1045)
	CKM_ECDSA_SHA512    uint = (0x1046)
	CKM_ECDH1_DERIVE    uint = (0x1050)
	CKM_VENDOR_DEFINED  uint = (1 << 31)
	CKM_SHA224          uint = (0x255)

	CKM_RSA_PKCS_KEY_PAIR_GEN uint = (0)
	CKM_RSA_PKCS              uint = (1)
	CKM_SHA1_RSA_PKCS         uint = (6)
	CKM_RSA_PKCS_PSS          uint = (0xd)
	CKM_SHA1_RSA_PKCS_PSS     uint = (0xe)
	CKM_SHA256_RSA_PKCS       uint = (0x40)
	CKM_SHA384_RSA_PKCS       uint = (0x41)
	CKM_SHA512_RSA_PKCS       uint = (0x42)
	CKM_SHA256_RSA_PKCS_PSS   uint = (0x43)
	CKM_SHA384_RSA_PKCS_PSS   uint = (0x44)
	CKM_SHA512_RSA_PKCS_PSS   uint = (0x45)
	CKM_SHA224_RSA_PKCS       uint = (0x46)
	CKM_SHA224_RSA_PKCS_PSS   uint = (0x47)
)

// Mask generation functions of CK_RSA_PKCS_PSS_PARAMS.
const (
	CKG_MGF1_SHA1   uint = (1)
	CKG_MGF1_SHA256 uint = (2)
	CKG_MGF1_SHA384 uint = (3)
	CKG_MGF1_SHA512 uint = (4)
	CKG_MGF1_SHA224 uint = (5)
)

// Flags of the info structures, C_Initialize and sessions.
const (
	CKF_TOKEN_PRESENT                  uint = (1 << 0)
	CKF_REMOVABLE_DEVICE               uint = (1 << 1)
	CKF_HW_SLOT                        uint = (1 << 2)
	CKF_ARRAY_ATTRIBUTE                uint = (1 << 30)
	CKF_RNG                            uint = (1 << 0)
	CKF_WRITE_PROTECTED                uint = (1 << 1)
	CKF_LOGIN_REQUIRED                 uint = (1 << 2)
	CKF_USER_PIN_INITIALIZED           uint = (1 << 3)
	CKF_RESTORE_KEY_NOT_NEEDED         uint = (1 << 5)
	CKF_CLOCK_ON_TOKEN                 uint = (1 << 6)
	CKF_PROTECTED_AUTHENTICATION_PATH  uint = (1 << 8)
	CKF_DUAL_CRYPTO_OPERATIONS         uint = (1 << 9)
	CKF_TOKEN_INITIALIZED              uint = (1 << 10)
	CKF_SECONDARY_AUTHENTICATION       uint = (1 << 11)
	CKF_USER_PIN_COUNT_LOW             uint = (1 << 16)
	CKF_USER_PIN_FINAL_TRY             uint = (1 << 17)
	CKF_USER_PIN_LOCKED                uint = (1 << 18)
	CKF_USER_PIN_TO_BE_CHANGED         uint = (1 << 19)
	CKF_SO_PIN_COUNT_LOW               uint = (1 << 20)
	CKF_SO_PIN_FINAL_TRY               uint = (1 << 21)
	CKF_SO_PIN_LOCKED                  uint = (1 << 22)
	CKF_SO_PIN_TO_BE_CHANGED           uint = (1 << 23)
	CKF_RW_SESSION                     uint = (1 << 1)
	CKF_SERIAL_SESSION                 uint = (1 << 2)
	CKF_NEXT_OTP                       uint = (0x01)
	CKF_EXCLUDE_TIME                   uint = (0x02)
	CKF_EXCLUDE_COUNTER                uint = (0x04)
	CKF_EXCLUDE_CHALLENGE              uint = (0x08)
	CKF_EXCLUDE_PIN                    uint = (0x10)
	CKF_USER_FRIENDLY_OTP              uint = (0x20)
	CKF_HW                             uint = (1 << 0)
	CKF_ENCRYPT                        uint = (1 << 8)
	CKF_DECRYPT                        uint = (1 << 9)
	CKF_DIGEST                         uint = (1 << 10)
	CKF_SIGN                           uint = (1 << 11)
	CKF_SIGN_RECOVER                   uint = (1 << 12)
	CKF_VERIFY                         uint = (1 << 13)
	CKF_VERIFY_RECOVER                 uint = (1 << 14)
	CKF_GENERATE                       uint = (1 << 15)
	CKF_GENERATE_KEY_PAIR              uint = (1 << 16)
	CKF_WRAP                           uint = (1 << 17)
	CKF_UNWRAP                         uint = (1 << 18)
	CKF_DERIVE                         uint = (1 << 19)
	CKF_EXTENSION                      uint = (1 << 31)
	CKF_EC_F_P                         uint = (1 << 20)
	CKF_EC_NAMEDCURVE                  uint = (1 << 23)
	CKF_EC_UNCOMPRESS                  uint = (1 << 24)
	CKF_EC_COMPRESS                    uint = (1 << 25)
	CKF_DONT_BLOCK                     uint = (1)
	CKF_LIBRARY_CANT_CREATE_OS_THREADS uint = (1 << 0)
	CKF_OS_LOCKING_OK                  uint = (1 << 1)
)

// User types.
const (
	CKU_SO               uint = (0)
	CKU_USER             uint = (1)
	CKU_CONTEXT_SPECIFIC uint = (2)
)

// Session states.
const (
	CKS_RO_PUBLIC_SESSION uint = (0)
	CKS_RO_USER_FUNCTIONS uint = (1)
	CKS_RW_PUBLIC_SESSION uint = (2)
	CKS_RW_USER_FUNCTIONS uint = (3)
	CKS_RW_SO_FUNCTIONS   uint = (4)
)

// Certificate types.
const (
	CKC_X_509           uint = (0)
	CKC_X_509_ATTR_CERT uint = (1)
	CKC_WTLS            uint = (2)
	CKC_VENDOR_DEFINED  uint = (1 << 31)
	CKC_OPENPGP         uint = (CKC_VENDOR_DEFINED | 0x504750)
)

// Key derivation functions of ECDH.
const (
	CKD_NULL                 uint = (0x01)
	CKD_SHA1_KDF             uint = (0x02)
	CKD_SHA1_KDF_ASN1        uint = (0x03)
	CKD_SHA1_KDF_CONCATENATE uint = (0x04)
	CKD_SHA224_KDF           uint = (0x05)
	CKD_SHA256_KDF           uint = (0x06)
	CKD_SHA384_KDF           uint = (0x07)
	CKD_SHA512_KDF           uint = (0x08)
	CKD_CPDIVERSIFY_KDF      uint = (0x09)
)

// rvNames names the return values for logs.
var rvNames = map[uint]string{
	CKR_OK:                               "CKR_OK",
	CKR_CANCEL:                           "CKR_CANCEL",
	CKR_HOST_MEMORY:                      "CKR_HOST_MEMORY",
	CKR_SLOT_ID_INVALID:                  "CKR_SLOT_ID_INVALID",
	CKR_GENERAL_ERROR:                    "CKR_GENERAL_ERROR",
	CKR_FUNCTION_FAILED:                  "CKR_FUNCTION_FAILED",
	CKR_ARGUMENTS_BAD:                    "CKR_ARGUMENTS_BAD",
	CKR_NO_EVENT:                         "CKR_NO_EVENT",
	CKR_NEED_TO_CREATE_THREADS:           "CKR_NEED_TO_CREATE_THREADS",
	CKR_CANT_LOCK:                        "CKR_CANT_LOCK",
	CKR_ATTRIBUTE_READ_ONLY:              "CKR_ATTRIBUTE_READ_ONLY",
	CKR_ATTRIBUTE_SENSITIVE:              "CKR_ATTRIBUTE_SENSITIVE",
	CKR_ATTRIBUTE_TYPE_INVALID:           "CKR_ATTRIBUTE_TYPE_INVALID",
	CKR_ATTRIBUTE_VALUE_INVALID:          "CKR_ATTRIBUTE_VALUE_INVALID",
	CKR_ACTION_PROHIBITED:                "CKR_ACTION_PROHIBITED",
	CKR_DATA_INVALID:                     "CKR_DATA_INVALID",
	CKR_DATA_LEN_RANGE:                   "CKR_DATA_LEN_RANGE",
	CKR_DEVICE_ERROR:                     "CKR_DEVICE_ERROR",
	CKR_DEVICE_MEMORY:                    "CKR_DEVICE_MEMORY",
	CKR_DEVICE_REMOVED:                   "CKR_DEVICE_REMOVED",
	CKR_ENCRYPTED_DATA_INVALID:           "CKR_ENCRYPTED_DATA_INVALID",
	CKR_ENCRYPTED_DATA_LEN_RANGE:         "CKR_ENCRYPTED_DATA_LEN_RANGE",
	CKR_FUNCTION_CANCELED:                "CKR_FUNCTION_CANCELED",
	CKR_FUNCTION_NOT_PARALLEL:            "CKR_FUNCTION_NOT_PARALLEL",
	CKR_FUNCTION_NOT_SUPPORTED:           "CKR_FUNCTION_NOT_SUPPORTED",
	CKR_KEY_HANDLE_INVALID:               "CKR_KEY_HANDLE_INVALID",
	CKR_KEY_SIZE_RANGE:                   "CKR_KEY_SIZE_RANGE",
	CKR_KEY_TYPE_INCONSISTENT:            "CKR_KEY_TYPE_INCONSISTENT",
	CKR_KEY_NOT_NEEDED:                   "CKR_KEY_NOT_NEEDED",
	CKR_KEY_CHANGED:                      "CKR_KEY_CHANGED",
	CKR_KEY_NEEDED:                       "CKR_KEY_NEEDED",
	CKR_KEY_INDIGESTIBLE:                 "CKR_KEY_INDIGESTIBLE",
	CKR_KEY_FUNCTION_NOT_PERMITTED:       "CKR_KEY_FUNCTION_NOT_PERMITTED",
	CKR_KEY_NOT_WRAPPABLE:                "CKR_KEY_NOT_WRAPPABLE",
	CKR_KEY_UNEXTRACTABLE:                "CKR_KEY_UNEXTRACTABLE",
	CKR_MECHANISM_INVALID:                "CKR_MECHANISM_INVALID",
	CKR_MECHANISM_PARAM_INVALID:          "CKR_MECHANISM_PARAM_INVALID",
	CKR_OBJECT_HANDLE_INVALID:            "CKR_OBJECT_HANDLE_INVALID",
	CKR_OPERATION_ACTIVE:                 "CKR_OPERATION_ACTIVE",
	CKR_OPERATION_NOT_INITIALIZED:        "CKR_OPERATION_NOT_INITIALIZED",
	CKR_PIN_INCORRECT:                    "CKR_PIN_INCORRECT",
	CKR_PIN_INVALID:                      "CKR_PIN_INVALID",
	CKR_PIN_LEN_RANGE:                    "CKR_PIN_LEN_RANGE",
	CKR_PIN_EXPIRED:                      "CKR_PIN_EXPIRED",
	CKR_PIN_LOCKED:                       "CKR_PIN_LOCKED",
	CKR_SESSION_CLOSED:                   "CKR_SESSION_CLOSED",
	CKR_SESSION_COUNT:                    "CKR_SESSION_COUNT",
	CKR_SESSION_HANDLE_INVALID:           "CKR_SESSION_HANDLE_INVALID",
	CKR_SESSION_PARALLEL_NOT_SUPPORTED:   "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
	CKR_SESSION_READ_ONLY:                "CKR_SESSION_READ_ONLY",
	CKR_SESSION_EXISTS:                   "CKR_SESSION_EXISTS",
	CKR_SESSION_READ_ONLY_EXISTS:         "CKR_SESSION_READ_ONLY_EXISTS",
	CKR_SESSION_READ_WRITE_SO_EXISTS:     "CKR_SESSION_READ_WRITE_SO_EXISTS",
	CKR_SIGNATURE_INVALID:                "CKR_SIGNATURE_INVALID",
	CKR_SIGNATURE_LEN_RANGE:              "CKR_SIGNATURE_LEN_RANGE",
	CKR_TEMPLATE_INCOMPLETE:              "CKR_TEMPLATE_INCOMPLETE",
	CKR_TEMPLATE_INCONSISTENT:            "CKR_TEMPLATE_INCONSISTENT",
	CKR_TOKEN_NOT_PRESENT:                "CKR_TOKEN_NOT_PRESENT",
	CKR_TOKEN_NOT_RECOGNIZED:             "CKR_TOKEN_NOT_RECOGNIZED",
	CKR_TOKEN_WRITE_PROTECTED:            "CKR_TOKEN_WRITE_PROTECTED",
	CKR_UNWRAPPING_KEY_HANDLE_INVALID:    "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
	CKR_UNWRAPPING_KEY_SIZE_RANGE:        "CKR_UNWRAPPING_KEY_SIZE_RANGE",
	CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
	CKR_USER_ALREADY_LOGGED_IN:           "CKR_USER_ALREADY_LOGGED_IN",
	CKR_USER_NOT_LOGGED_IN:               "CKR_USER_NOT_LOGGED_IN",
	CKR_USER_PIN_NOT_INITIALIZED:         "CKR_USER_PIN_NOT_INITIALIZED",
	CKR_USER_TYPE_INVALID:                "CKR_USER_TYPE_INVALID",
	CKR_USER_ANOTHER_ALREADY_LOGGED_IN:   "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
	CKR_USER_TOO_MANY_TYPES:              "CKR_USER_TOO_MANY_TYPES",
	CKR_WRAPPED_KEY_INVALID:              "CKR_WRAPPED_KEY_INVALID",
	CKR_WRAPPED_KEY_LEN_RANGE:            "CKR_WRAPPED_KEY_LEN_RANGE",
	CKR_WRAPPING_KEY_HANDLE_INVALID:      "CKR_WRAPPING_KEY_HANDLE_INVALID",
	CKR_WRAPPING_KEY_SIZE_RANGE:          "CKR_WRAPPING_KEY_SIZE_RANGE",
	CKR_WRAPPING_KEY_TYPE_INCONSISTENT:   "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
	CKR_RANDOM_SEED_NOT_SUPPORTED:        "CKR_RANDOM_SEED_NOT_SUPPORTED",
	CKR_RANDOM_NO_RNG:                    "CKR_RANDOM_NO_RNG",
	CKR_DOMAIN_PARAMS_INVALID:            "CKR_DOMAIN_PARAMS_INVALID",
	CKR_CURVE_NOT_SUPPORTED:              "CKR_CURVE_NOT_SUPPORTED",
	CKR_BUFFER_TOO_SMALL:                 "CKR_BUFFER_TOO_SMALL",
	CKR_SAVED_STATE_INVALID:              "CKR_SAVED_STATE_INVALID",
	CKR_INFORMATION_SENSITIVE:            "CKR_INFORMATION_SENSITIVE",
	CKR_STATE_UNSAVEABLE:                 "CKR_STATE_UNSAVEABLE",
	CKR_CRYPTOKI_NOT_INITIALIZED:         "CKR_CRYPTOKI_NOT_INITIALIZED",
	CKR_CRYPTOKI_ALREADY_INITIALIZED:     "CKR_CRYPTOKI_ALREADY_INITIALIZED",
	CKR_MUTEX_BAD:                        "CKR_MUTEX_BAD",
	CKR_MUTEX_NOT_LOCKED:                 "CKR_MUTEX_NOT_LOCKED",
	CKR_NEW_PIN_MODE:                     "CKR_NEW_PIN_MODE",
	CKR_NEXT_OTP:                         "CKR_NEXT_OTP",
	CKR_EXCEEDED_MAX_ITERATIONS:          "CKR_EXCEEDED_MAX_ITERATIONS",
	CKR_FIPS_SELF_TEST_FAILED:            "CKR_FIPS_SELF_TEST_FAILED",
	CKR_LIBRARY_LOAD_FAILED:              "CKR_LIBRARY_LOAD_FAILED",
	CKR_PIN_TOO_WEAK:                     "CKR_PIN_TOO_WEAK",
	CKR_PUBLIC_KEY_INVALID:               "CKR_PUBLIC_KEY_INVALID",
	CKR_FUNCTION_REJECTED:                "CKR_FUNCTION_REJECTED",
	CKR_VENDOR_DEFINED:                   "CKR_VENDOR_DEFINED",
}
