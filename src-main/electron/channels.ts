/** The one IPC channel for calls and the one for pushed events (shared by main and preload). */
export const CALL_CHANNEL = 'normlab:call';
export const EVENT_CHANNEL = 'normlab:event';
