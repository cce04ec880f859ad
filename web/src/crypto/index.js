// The browser client's cryptography, in one import.
export * from './bytes.js';
export * from './errors.js';
export * from './record.js';
export * from './chat.js';
export * from './credentials.js';
export * from './keyfiles.js';
export * from './mlkem.js';
export { HandshakeState, dh, publicKeyOf, parseProtocolName } from './noise.js';
