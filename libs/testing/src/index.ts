export * from './redis-server'; // startRedisServer, redisUrlForTests, scanRedisForSecret
export * from './docker-image';
