/**
 * The client went silent for longer than its listener's `timeouts.body`: raised by a front end
 * into whoever waits on that client, so the access line can tell a client timeout (`c…`) from a
 * client that left (`C…`).
 *
 * @module
 */
export class ClientTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientTimeout";
  }
}
