/**
 * The McpServer status, written only by the operator through the status
 * subresource. Like the spec, this schema generates the CRD's status schema.
 */
import { z } from 'zod';

export const CONDITION_TYPES = ['Ready', 'Available', 'Progressing', 'Degraded', 'Authenticated', 'ToolsAudited'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** metav1.Condition. */
export const Condition = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .describe('Type of condition: Ready, Available, Progressing, Degraded, Authenticated or ToolsAudited.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z.number().int().min(0).optional().describe('The .metadata.generation the condition was computed from.'),
    lastTransitionTime: z.string().describe('When the condition last changed status (RFC 3339).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Machine-readable CamelCase reason for the last transition.'),
    message: z.string().max(32768).describe('Human-readable details.'),
  })
  .strict()
  .describe('A metav1.Condition.');
export type Condition = z.infer<typeof Condition>;

export const ToolFinding = z
  .object({
    tool: z.string().max(256).describe('Tool the finding is about.'),
    code: z.string().max(128).describe('Finding kind, e.g. description-too-long, hidden-instructions, digest-changed.'),
    message: z.string().max(1024).describe('What the audit found.'),
  })
  .strict();
export type ToolFinding = z.infer<typeof ToolFinding>;

export const ToolsStatus = z
  .object({
    count: z.number().int().min(0).describe('Number of tools the server lists after policy.'),
    digest: z.string().max(128).describe('Digest over every tool definition (sha256:...); changes when any tool changes.'),
    listingBytes: z.number().int().min(0).optional().describe('Size of the minified tools/list result.'),
    listingTokens: z.number().int().min(0).optional().describe('Estimated tokens an agent spends on the tool listing.'),
    findings: z.array(ToolFinding).max(50).describe('Audit findings (at most 50 are reported).'),
    findingsTotal: z.number().int().min(0).optional().describe('Number of findings, including those not listed.'),
  })
  .strict()
  .describe("The tool audit as reported by a ready replica's /admin/audit.");
export type ToolsStatus = z.infer<typeof ToolsStatus>;

export const McpServerStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe('The .metadata.generation the operator last acted on.'),
    url: z.string().optional().describe('In-cluster URL of the MCP endpoint.'),
    replicas: z.number().int().min(0).optional().describe('Pods of the current Deployment (the scale subresource reads this).'),
    readyReplicas: z.number().int().min(0).optional().describe('Pods passing readiness.'),
    updatedReplicas: z.number().int().min(0).optional().describe('Pods running the latest pod template.'),
    selector: z.string().optional().describe('Label selector of the pods, as a string (for the scale subresource and HPAs).'),
    configHash: z.string().optional().describe('Hash of the rendered runtime config the pods should run.'),
    conditions: z.array(Condition).optional().describe('Ready, Available, Progressing, Degraded, Authenticated, ToolsAudited.'),
    tools: ToolsStatus.optional(),
  })
  .strict()
  .describe('Observed state, written by the operator.');
export type McpServerStatus = z.infer<typeof McpServerStatus>;
