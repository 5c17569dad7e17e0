// User regular expressions, written once: the agent evaluates checks' patterns with it and the
// control plane validates them with it, so both accept exactly the same patterns. RE2 semantics
// (re2js, pure JavaScript): matching is linear in the text, a pattern cannot stall a thread.
export {
  compileUserRegex,
  userRegexProblem,
  MAX_USER_REGEX_LENGTH,
  MAX_USER_REGEX_PROGRAM_SIZE,
  type UserRegex,
  type UserRegexResult,
} from "./user-regex.js";
