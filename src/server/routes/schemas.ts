/** JSON schema pieces shared by route plugins (they also shape the generated OpenAPI document). */
import { userRoles } from '../roles.js';

export const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

export const userRoleSchema = { type: 'string', enum: userRoles } as const;

export const numericIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 } },
} as const;

/** A duration such as 30m, 12h, 7d (the CLI's syntax). */
export const durationString = { type: 'string', pattern: '^[0-9]{1,6}(ms|s|m|h|d)$', maxLength: 10 } as const;
