/**
 * Phrases and tags that address the model instead of describing a tool:
 * the offline rule set shared by the tool audit and output flagging. Written
 * from the published attack write-ups (tool poisoning, rug pulls, "ASCII
 * smuggling") and kept narrow enough that ordinary tool docs don't match.
 */
export interface InjectionPattern {
  id: string;
  re: RegExp;
  message: string;
}

export const INJECTION_PATTERNS: readonly InjectionPattern[] = [
  {
    id: 'instruction-tag',
    re: /<\s*\/?\s*(important|system|hidden|override|instructions?|secret|critical|sudo|admin)\b[^>]{0,80}>/i,
    message: 'tag addressing the model',
  },
  { id: 'html-comment', re: /<!--[\s\S]*?-->/, message: 'hidden HTML comment' },
  {
    id: 'ignore-instructions',
    re: /\b(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)?(previous|prior|above|earlier|preceding|other|system)\s+(instructions?|rules?|prompts?|directions?|guidelines?|messages?)/i,
    message: 'asks to ignore instructions',
  },
  {
    id: 'conceal-from-user',
    re: /\b(do\s+not|don'?t|never|must\s+not)\s+(tell|inform|mention|notify|alert|reveal|show|disclose|let)\b[^.\n]{0,40}\buser\b|\bwithout\s+(telling|informing|notifying|alerting|asking)\s+(the\s+)?user\b|\buser\s+(must|should)\s+not\s+(know|see|be\s+told)\b|\b(only\s+tell|tell\s+the\s+user\s+only)\b/i,
    message: 'asks to hide actions from the user',
  },
  {
    id: 'covert-action',
    re: /\b(secretly|covertly|silently|quietly|discreetly)\s+(send|forward|upload|post|include|add|copy|exfiltrate|transmit|read|collect|call|attach|append|email)\w*/i,
    message: 'covert action',
  },
  {
    id: 'side-channel',
    re: /\balso\s+(sends?|collects?|uploads?|forwards?|transmits?|exfiltrates?|copies|emails?)\b/i,
    message: 'undisclosed side effect',
  },
  {
    id: 'credential-access',
    re: /~\/\.ssh\b|\bid_(rsa|ed25519|ecdsa)\b|\.aws\/credentials|\/etc\/(passwd|shadow)\b|\.netrc\b|claude_desktop_config|\bmcp\.json\b|\.cursor\/mcp/i,
    message: 'reference to credentials or client config files',
  },
  {
    id: 'precondition-directive',
    re: /\b(before|prior\s+to)\s+(using|calling|invoking|running|executing)\s+(this|any|the)\b[^.\n]{0,40}\b(you\s+)?(must|should|need\s+to|have\s+to|are\s+required\s+to)\b|\balways\s+(call|use|invoke|run)\s+this\s+tool\s+(first|before)\b/i,
    message: 'directive about what the model must do first',
  },
  { id: 'hidden-parameter', re: /\bhidden\s+(parameters?|fields?|arguments?|instructions?)\b|\bsidenote\b/i, message: 'hidden parameter or side note' },
  {
    id: 'persona-override',
    re: /\byou\s+are\s+now\b|\bnew\s+instructions?\s*:|\b(reveal|print|output)\s+(your|the)\s+system\s+prompt\b|\bjailbreak\b/i,
    message: 'attempts to change the model\'s instructions',
  },
  {
    id: 'exfiltration',
    re: /\bbase64[- ]?encod\w*\b[^.\n]{0,40}\b(keys?|tokens?|credentials?|passwords?|secrets?)\b|\b(send|post|upload|forward|transmit|email)\b[^.\n]{0,40}\bto\s+(https?:\/\/|[\w.+-]+@[\w-]+\.[\w.]+)/i,
    message: 'sends data to an outside destination',
  },
];

/** The patterns matching `text`, each with the matched excerpt. */
export function matchInjection(text: string): Array<{ pattern: InjectionPattern; match: string }> {
  const out: Array<{ pattern: InjectionPattern; match: string }> = [];
  for (const p of INJECTION_PATTERNS) {
    const m = p.re.exec(text);
    if (m) out.push({ pattern: p, match: m[0] });
  }
  return out;
}
