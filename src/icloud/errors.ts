/**
 * Old names of the app-wide error taxonomy, now in core/errors.ts; kept so code written against
 * them still compiles. New code imports AppError from core.
 */
export { AppError as ICloudError, isAppError as isICloudError, type ErrorCode } from '../core/errors.js'
