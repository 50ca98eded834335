export * from '../common/netns.js';
