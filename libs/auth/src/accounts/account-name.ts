/**
 * Usernames, namespace names and robot names share the grammar of one repository path
 * component, so every user and organisation name can start a repository name.
 */
export const ACCOUNT_NAME_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const ACCOUNT_NAME_MIN = 2;
export const ACCOUNT_NAME_MAX = 64;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

export function isAccountName(name: string): boolean {
  return name.length >= ACCOUNT_NAME_MIN && name.length <= ACCOUNT_NAME_MAX && ACCOUNT_NAME_PATTERN.test(name);
}
