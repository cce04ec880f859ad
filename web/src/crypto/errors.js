// One error type for every refusal in the crypto layer. `code` is the stable snake_case
// name shared with the Rust implementation (crates/crypto: NoiseError, RecordError,
// CodecError, CredentialError, KeyError), so vectors and UIs can compare codes, not text.
// Messages never carry key material or plaintext.

export class CryptoError extends Error {
  /**
   * @param {string} code stable machine code
   * @param {string} [detail] finer code (e.g. the codec rule behind `malformed`)
   */
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'CryptoError';
    this.code = code;
    this.detail = detail;
  }
}
