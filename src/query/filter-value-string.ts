/**
 * How a filter value becomes the string compared for equality (Pomerium's
 * SimpleFilterExpression.ValueAsString): strings as is, bools `true`/`false`, numbers in Go's
 * `fmt.Sprint(float64)` format, null "".
 */
import type { JsonValue } from "@bufbuild/protobuf";

/** The equality string for a filter value. */
export function filterValueAsString(value: JsonValue): string {
  if (value === null) return "";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return formatGoFloat(value);
    case "string":
      return value;
    default:
      // Lists and objects never reach equality (they parse as OR / nested paths). Go would print
      // the message's debug text; a stable stand-in that matches nothing realistic will do.
      return `\u0000${JSON.stringify(value)}`;
  }
}

/**
 * Formats a float64 like Go's `fmt.Sprint` (`%v` = strconv 'g' with the shortest precision):
 * shortest round-trip digits; exponent form when the decimal exponent is < -4 or >= 6
 * (strconv uses precision 6 for that decision when formatting the shortest digits: 1e+06).
 */
export function formatGoFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "+Inf";
  if (x === -Infinity) return "-Inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const sign = x < 0 ? "-" : "";
  // toExponential() without an argument gives the shortest round-trip digits, as Go does.
  const [mantissa, expText] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : "";
    const expAbs = Math.abs(exp);
    return `${sign}${digits[0]}${frac}e${exp < 0 ? "-" : "+"}${expAbs < 10 ? "0" : ""}${expAbs}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${"0".repeat(exp + 1 - digits.length)}`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}
