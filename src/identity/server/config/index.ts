export {
  DEFAULT_SOCKET_PATH,
  parseDurationSeconds,
  readConfigFile,
  resolveServerConfig,
  type FederatesWithConfig,
  type K8sSatClusterConfig,
  type RunFlags,
  type ServerConfig,
} from './config.js';
